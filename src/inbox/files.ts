/**
 * Files agents attach to a reply: stored in Redis under the conversation's hash tag (erased with
 * it, gone after FILE_TTL_MS) and served at an unguessable URL, `/files/<conversation>/<token>`,
 * which the platform fetches when the reply is sent (PUBLIC_URL). Size and type are limited.
 */
import crypto from 'node:crypto';
import type { RedisClient } from '../queue/redis';

export const FILE_TTL_MS = 30 * 24 * 3_600_000;
/** What an agent may attach, and how the reply carries it. */
export const FILE_TYPES: Record<string, 'image' | 'video' | 'audio' | 'file'> = {
  'image/png': 'image',
  'image/jpeg': 'image',
  'image/gif': 'image',
  'image/webp': 'image',
  'video/mp4': 'video',
  'audio/mpeg': 'audio',
  'audio/mp4': 'audio',
  'application/pdf': 'file',
  'text/plain': 'file',
  'text/csv': 'file',
};
export const TOKEN = /^[A-Za-z0-9_-]{32}$/;

export interface StoredFile {
  type: string;
  name: string;
  data: Buffer;
}

export class FileStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  key(conversation: string, token: string): string {
    return `${this.prefix}:{${conversation}}:file:${token}`;
  }

  async save(conversation: string, f: StoredFile): Promise<string> {
    const token = crypto.randomBytes(24).toString('base64url');
    await this.redis.multi().hset(this.key(conversation, token), { type: f.type, name: f.name, data: f.data }).pexpire(this.key(conversation, token), FILE_TTL_MS).exec();
    return token;
  }

  async get(conversation: string, token: string): Promise<StoredFile | undefined> {
    if (!TOKEN.test(token)) return undefined;
    const [type, name, data] = await this.redis.hmgetBuffer(this.key(conversation, token), 'type', 'name', 'data');
    if (!type || !data) return undefined;
    return { type: type.toString('utf8'), name: name?.toString('utf8') ?? 'file', data };
  }
}
