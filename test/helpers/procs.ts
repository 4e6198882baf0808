/** Runs our own roles as real child processes (`node --import tsx src/main.ts`), as production would. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');

export class RoleProcess {
  readonly output: string[] = [];
  private exited: Promise<number | null>;
  port?: number;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        this.output.push(line);
        if (this.output.length > 2_000) this.output.shift();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Resolves when the process logs "ready"; rejects if it exits first. */
  async ready(timeoutMs = 20_000): Promise<this> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.child.exitCode !== null) throw new Error(`${this.name} exited with ${this.child.exitCode}:\n${this.output.slice(-20).join('\n')}`);
      for (const line of this.output) {
        try {
          const j = JSON.parse(line);
          if (j.msg === 'ready' || j.msg === 'bench-ready') {
            this.port = j.port;
            return this;
          }
        } catch {
          /* not a log line */
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.output.slice(-20).join('\n')}`);
  }

  /** A worker's id, as its `ready` log line gives it (its conversation locks start with it). */
  get workerId(): string | undefined {
    for (const line of this.output) {
      try {
        const j = JSON.parse(line) as { msg?: string; worker?: string };
        if (j.msg === 'ready' && j.worker) return j.worker;
      } catch {
        /* not a log line */
      }
    }
    return undefined;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  async stop(): Promise<number | null> {
    return this.kill('SIGTERM');
  }
}

export function startRole(name: string, env: Record<string, string>, nodeArgs: string[] = []): RoleProcess {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new RoleProcess(name, child);
}
