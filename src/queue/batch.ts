/**
 * Calls made at about the same time, sent as one. Under load a worker finishes events of many
 * conversations, and a gateway takes many POSTs, within the same turn of the event loop (the
 * answers of one poll of the sockets); each was a round trip of its own. A Batcher gathers
 * the requests submitted during a turn and hands them to `run` together on the next
 * (setImmediate), at most `max` requests and `maxSize` (by `size`) at a time: one script call,
 * one socket write, one reply to parse, instead of one of each per request. A lone request
 * waits for nothing but the end of the current turn; a request larger than `maxSize` goes alone.
 */
export class Batcher<Req, Res> {
  private pending: { req: Req; resolve: (r: Res) => void; reject: (e: unknown) => void }[] = [];
  private scheduled = false;

  /** `run` answers each request in order: a result, or an Error for that request alone; a rejection fails them all. */
  constructor(
    private readonly run: (reqs: Req[]) => Promise<(Res | Error)[]>,
    private readonly o: { max?: number; size?: (req: Req) => number; maxSize?: number } = {},
  ) {}

  submit(req: Req): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.pending.push({ req, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const max = this.o.max ?? 64;
    while (this.pending.length > 0) {
      let n = 0;
      let size = 0;
      while (n < this.pending.length && n < max) {
        size += this.o.size?.(this.pending[n]!.req) ?? 0;
        if (n > 0 && size > (this.o.maxSize ?? Infinity)) break;
        n++;
      }
      const batch = this.pending.splice(0, n);
      Promise.resolve(batch.map((b) => b.req))
        .then(this.run)
        .then(
          (results) =>
            batch.forEach((b, i) => {
              const r = results[i];
              if (r instanceof Error) b.reject(r);
              else b.resolve(r as Res);
            }),
          (err: unknown) => batch.forEach((b) => b.reject(err)),
        );
    }
  }
}
