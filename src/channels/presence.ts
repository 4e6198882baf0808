/**
 * Presence, for channels that hold a live connection to the user (web chat): whether the user
 * is online and typing, as the admin console shows it. Neutral, like the rest of the port:
 * the admin API and the live feed use this, an adapter implements it, `app.ts` wires the two.
 */
import type { ConversationRef } from './conversation';

export interface UserPresence {
  online: boolean;
  typing: boolean;
  /** Open connections (tabs, devices). */
  connections: number;
}

/** A change, as the live feed streams it. */
export interface PresenceChange extends ConversationRef, UserPresence {
  /** When it changed (ms). */
  at: number;
}

export interface PresenceSource {
  /** Channels whose conversations have presence. */
  readonly channels: ReadonlySet<string>;
  get(c: ConversationRef): Promise<UserPresence>;
  /** Calls `fn` on every change of any conversation (until the returned function is called). */
  subscribe(fn: (change: PresenceChange) => void): () => void;
}
