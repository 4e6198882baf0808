/** Queue errors and the one enum naming the small integer codes the Lua scripts return. */

export enum ScriptCode {
  Ok = 0,
  Empty = 1,
  Fenced = 2,
  /** The conversation's lock is held by another worker (next-6 asked to acquire it). */
  Busy = 3,
}

export enum EnqueueCode {
  Queued = 1,
  Duplicate = 2,
  Overflow = 3,
  Recorded = 4,
  /** QUEUE_OVERFLOW_MAX events wait already: not taken (nor marked seen); the platform retries. */
  Refused = 5,
}

export class LockLostError extends Error {
  override readonly name = 'LockLostError';
  constructor(readonly context: { conversation: string; mid?: string }) {
    super(`lock of conversation ${context.conversation} is no longer ours`);
  }
}

/** Events refused because their conversation has QUEUE_OVERFLOW_MAX events waiting: answer 503, the sender retries. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
  constructor(readonly context: { conversations: string[]; refused: number }) {
    super(`${context.refused} event(s) refused: conversation queue full (${context.conversations.slice(0, 5).join(', ')})`);
  }
}

export class ScriptReplyError extends Error {
  override readonly name = 'ScriptReplyError';
  constructor(readonly context: { script: string; reply: unknown }) {
    super(`unexpected reply from script ${context.script}: ${JSON.stringify(context.reply)?.slice(0, 200)}`);
  }
}

/** Turns a script code into a typed error (or nothing for the codes that are not errors). */
export function errorForCode(code: number, ctx: { script: string; conversation: string; mid?: string }): Error | undefined {
  switch (code) {
    case ScriptCode.Ok:
    case ScriptCode.Empty:
    case ScriptCode.Busy:
      return undefined;
    case ScriptCode.Fenced:
      return new LockLostError(ctx);
    default:
      return new ScriptReplyError({ script: ctx.script, reply: code });
  }
}
