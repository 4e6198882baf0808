/**
 * A counting semaphore with a bounded queue: at most `max` holders at once and at most
 * `maxWaiting` callers waiting in line; beyond that `acquire` refuses at once (returns
 * undefined) instead of queueing without limit. Waiters are served first come, first served.
 */
export class Semaphore {
  private held = 0;
  private readonly queue: (() => void)[] = [];

  constructor(
    private readonly max: number,
    private readonly maxWaiting: number,
  ) {}

  get running(): number {
    return this.held;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /** A release function once a slot is free, or undefined when the line is full. */
  acquire(): Promise<(() => void) | undefined> {
    if (this.held < this.max) {
      this.held++;
      return Promise.resolve(this.releaser());
    }
    if (this.queue.length >= this.maxWaiting) return Promise.resolve(undefined);
    return new Promise((resolve) => this.queue.push(() => resolve(this.releaser())));
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.queue.shift();
      if (next)
        next(); // the slot passes straight to the next in line
      else this.held--;
    };
  }
}
