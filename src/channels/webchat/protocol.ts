/**
 * The web chat wire protocol (JSON text frames over the WebSocket at /webchat/ws), its limits
 * and close codes: what a widget may send, checked field by field so that a bad frame gets an
 * error naming the problem, and what the gateway sends back. docs/channel-webchat.md has the
 * full description; the widget (widget/client.js) is the reference client.
 */
import { STREAM_ID } from './store';

export const PROTOCOL_VERSION = 1;

export const LIMITS = {
  /** Largest frame (bytes); a bigger one closes the socket with 1009. */
  maxFrameBytes: 16 * 1024,
  /** Longest text of one visitor message (characters). */
  maxText: 2_000,
  maxPayload: 1_000,
  /** Messages per visitor (all tabs, all gateways) per window. */
  messagesPerWindow: 30,
  windowMs: 60_000,
  /** Open sockets per visitor (tabs, devices of an identified visitor). */
  connectionsPerVisitor: 5,
  /** A socket must say hello within this long. */
  helloTimeoutMs: 10_000,
  /** Bad frames a socket may send before it is closed (each gets an error frame). */
  badFrames: 10,
  /** Entries a widget opening afresh gets (older ones stay in the transcript). */
  history: 200,
} as const;

/** Close codes (4xxx: this protocol's, mirroring HTTP statuses). */
export const CLOSE = {
  /** The gateway is shutting down: reconnect (another replica answers). */
  restart: 1012,
  /** Redis could not answer the hello: reconnect a little later. */
  unavailable: 1013,
  internal: 1011,
  badFrames: 4400,
  unauthorized: 4401,
  origin: 4403,
  tooManyConnections: 4429,
} as const;

export type MessageKind = 'text' | 'quick_reply' | 'postback';

export type ClientFrame =
  | { t: 'hello'; token?: string; identity?: { userId: unknown; userHash: unknown }; after?: string; origin?: string }
  | { t: 'msg'; id: string; kind: MessageKind; text: string; payload?: string }
  | { t: 'ack' | 'read'; id: string }
  | { t: 'typing'; on: boolean }
  | { t: 'ping' };

/** A frame the gateway refuses: `message` names the problem. */
export class FrameError extends Error {
  constructor(
    message: string,
    readonly code = 'bad_frame',
  ) {
    super(message);
  }
}

/** Client message ids: chosen by the widget (a random UUID), the key that makes a resend harmless. */
export const CLIENT_ID = /^[A-Za-z0-9_-]{8,64}$/;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function text(v: unknown, field: string, max: number): string {
  if (typeof v !== 'string' || v.trim() === '') throw new FrameError(`${field} must be a non-empty string`);
  if (v.length > max) throw new FrameError(`${field} must be at most ${max} characters`, 'too_long');
  return v;
}

function parseMsg(f: Record<string, unknown>): ClientFrame {
  if (typeof f.id !== 'string' || !CLIENT_ID.test(f.id)) throw new FrameError('msg.id must be 8-64 letters, digits, _ or - (a random id the widget keeps until the message is acknowledged)');
  const kind = f.kind ?? 'text';
  if (kind !== 'text' && kind !== 'quick_reply' && kind !== 'postback') throw new FrameError('msg.kind must be text, quick_reply or postback');
  const body = text(f.text, 'msg.text', LIMITS.maxText);
  if (kind === 'text') return { t: 'msg', id: f.id, kind, text: body };
  return { t: 'msg', id: f.id, kind, text: body, payload: text(f.payload, 'msg.payload', LIMITS.maxPayload) };
}

function parseHello(f: Record<string, unknown>): ClientFrame {
  if (f.v !== undefined && f.v !== PROTOCOL_VERSION) throw new FrameError(`hello.v must be ${PROTOCOL_VERSION}`, 'version');
  if (f.token !== undefined && typeof f.token !== 'string') throw new FrameError('hello.token must be a string');
  if (f.after !== undefined && (typeof f.after !== 'string' || !STREAM_ID.test(f.after))) throw new FrameError('hello.after must be a transcript entry id ("<ms>-<seq>")');
  if (f.origin !== undefined && typeof f.origin !== 'string') throw new FrameError('hello.origin must be a string');
  if (f.identity !== undefined && !isObj(f.identity)) throw new FrameError('hello.identity must be an object {"userId","userHash"}');
  const identity = isObj(f.identity) ? { userId: f.identity.userId, userHash: f.identity.userHash } : undefined;
  return {
    t: 'hello',
    ...(f.token !== undefined ? { token: f.token as string } : {}),
    ...(identity ? { identity } : {}),
    ...(f.after !== undefined ? { after: f.after as string } : {}),
    ...(f.origin !== undefined ? { origin: f.origin as string } : {}),
  };
}

/** Parses one text frame; throws a FrameError naming what is wrong. */
export function parseFrame(raw: string): ClientFrame {
  let f: unknown;
  try {
    f = JSON.parse(raw);
  } catch {
    throw new FrameError('frame must be a JSON object');
  }
  if (!isObj(f)) throw new FrameError('frame must be a JSON object');
  switch (f.t) {
    case 'hello':
      return parseHello(f);
    case 'msg':
      return parseMsg(f);
    case 'ack':
    case 'read':
      if (typeof f.id !== 'string' || !STREAM_ID.test(f.id)) throw new FrameError(`${f.t}.id must be a transcript entry id ("<ms>-<seq>")`);
      return { t: f.t, id: f.id };
    case 'typing':
      if (typeof f.on !== 'boolean') throw new FrameError('typing.on must be true or false');
      return { t: 'typing', on: f.on };
    case 'ping':
      return { t: 'ping' };
    default:
      throw new FrameError(`frame type t=${JSON.stringify(f.t ?? null)} is not one of hello, msg, ack, read, typing, ping`);
  }
}

/** A transcript entry's JSON: a visitor's message or a reply. */
export interface VisitorEntry {
  f: 'visitor';
  cid: string;
  kind: MessageKind;
  text: string;
  payload?: string;
}
export interface ReplyEntry {
  f: 'bot' | 'agent';
  body: unknown;
  /** The visitor message this answers (its client id), when it answers one. */
  re?: string;
  /** Which reply of that message (0, 1, …). */
  n: number;
  /** The reply's id (stable across resends): the chatlog row its receipts update. */
  rid: string;
}

/** An entry frame, built around the stored JSON without parsing it again. */
export const entryFrame = (id: string, json: string): string => `{"t":"entry","id":"${id}","e":${json}}`;
