/**
 * A settings file that takes effect without a restart: its stat (mtime, size, inode) is
 * looked at every few seconds — cheap — and when it changed the file is read and parsed
 * again. A version that cannot be read or does not parse is refused: the last good value
 * stays in force and `onInvalid` is told, once per version. Kubernetes updates a mounted
 * Secret or ConfigMap by swapping a symlink: the stat of the path (which follows it) changes.
 */
import fs from 'node:fs';

export interface WatchedFileOptions<T> {
  file: string;
  /** The value at start (already read and validated by the config). */
  initial: T;
  parse(text: string, where: string): { value?: T; problems: string[] };
  everyMs: number;
  onChange(value: T, firstRead: boolean): void;
  onInvalid(problems: string[]): void;
}

const signature = (s: fs.Stats) => `${s.mtimeMs}:${s.ctimeMs}:${s.size}:${s.ino}`;

export class WatchedFile<T> {
  private value: T;
  private seen?: string;
  private timer?: NodeJS.Timeout;
  private checking?: Promise<void>;

  constructor(private readonly o: WatchedFileOptions<T>) {
    this.value = o.initial;
  }

  get current(): T {
    return this.value;
  }

  /**
   * Watches the file. The first look reads it again: it may have changed since the config
   * read it (a start can take seconds); `onChange` says whether it is that first read.
   */
  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.o.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One look at the file; concurrent callers share it. */
  check(): Promise<void> {
    this.checking ??= this.look().finally(() => (this.checking = undefined));
    return this.checking;
  }

  private async look(): Promise<void> {
    let sig: string;
    let text: string;
    try {
      sig = signature(await fs.promises.stat(this.o.file));
      if (sig === this.seen) return;
      text = await fs.promises.readFile(this.o.file, 'utf8');
    } catch (err) {
      const sigOfError = `error:${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      if (sigOfError !== this.seen) this.o.onInvalid([`${this.o.file} cannot be read: ${sigOfError.slice(6)}`]);
      this.seen = sigOfError;
      return;
    }
    const firstRead = this.seen === undefined;
    this.seen = sig;
    const parsed = this.o.parse(text, this.o.file);
    if (parsed.problems.length || parsed.value === undefined) return this.o.onInvalid(parsed.problems.length ? parsed.problems : [`${this.o.file} has no value`]);
    this.value = parsed.value;
    this.o.onChange(parsed.value, firstRead);
  }
}
