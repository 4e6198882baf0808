/**
 * Published models, in Redis so every worker sees the same one: `current` names the live
 * version, each version's model file is stored under its own key, and `history` lists the
 * published versions newest first (for rollback). All keys share the `{nlu}` hash tag so a
 * publish is one MULTI even on Redis Cluster.
 */
import type { RedisClient } from '../queue/redis';
import { NluModel, type ModelFile } from './model';

const KEEP = 10;

export class ModelStoreError extends Error {
  override readonly name = 'ModelStoreError';
}

export class ModelStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(part: string): string {
    return `${this.prefix}:{nlu}:${part}`;
  }

  async currentVersion(): Promise<string | null> {
    return this.redis.get(this.key('current'));
  }

  async history(): Promise<string[]> {
    return this.redis.lrange(this.key('history'), 0, -1);
  }

  async file(version: string): Promise<ModelFile | null> {
    const raw = await this.redis.get(this.key(`model:${version}`));
    return raw ? (JSON.parse(raw) as ModelFile) : null;
  }

  /** Makes `model` the live version; workers pick it up at their next poll. */
  async publish(model: NluModel | ModelFile): Promise<string> {
    const file = model instanceof NluModel ? model.toFile() : model;
    const history = await this.history();
    const dropped = history.filter((v) => v !== file.version).slice(KEEP - 1);
    const tx = this.redis
      .multi()
      .set(this.key(`model:${file.version}`), JSON.stringify(file))
      .set(this.key('current'), file.version)
      .lrem(this.key('history'), 0, file.version)
      .lpush(this.key('history'), file.version)
      .ltrim(this.key('history'), 0, KEEP - 1);
    for (const v of dropped) tx.del(this.key(`model:${v}`));
    await tx.exec();
    return file.version;
  }

  /** Goes back to the version published before the live one; the live one leaves the history. */
  async rollback(): Promise<{ from: string; to: string }> {
    const [from, to] = await this.history();
    if (!from || !to) throw new ModelStoreError('nothing to roll back to: fewer than two published versions');
    if (!(await this.redis.exists(this.key(`model:${to}`)))) throw new ModelStoreError(`previous version ${to} is no longer stored`);
    await this.redis
      .multi()
      .set(this.key('current'), to)
      .lpop(this.key('history'))
      .del(this.key(`model:${from}`))
      .exec();
    return { from, to };
  }
}
