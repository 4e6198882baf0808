/** Send API failures, with the Graph error code that decides whether to retry. */

/** Graph error codes worth retrying: 1200 temporary send failure, 2 service, 4 app rate limit, 613 calls rate limit. */
export const RETRYABLE_CODES: ReadonlySet<number> = new Set([1200, 2, 4, 613]);
/** Codes that never succeed on retry: 100 bad parameter, 190 bad token, 10/200/230 permission, 551 user unavailable. */
export const PERMANENT_CODES: ReadonlySet<number> = new Set([100, 190, 10, 551, 200, 230]);

export class SendApiError extends Error {
  override readonly name = 'SendApiError';
  constructor(
    message: string,
    readonly context: {
      /** Graph error code, or 'network' / 'timeout' / 'http_<status>' / 'no_token'. */
      code: string;
      status?: number;
      subcode?: number;
      retryable: boolean;
      /** The request may have reached Facebook (timeout, connection cut after sending): resending could duplicate. */
      uncertain?: boolean;
      attempts: number;
      pageId: string;
      recipientId: string;
      fbtraceId?: string;
    },
  ) {
    super(message);
  }
  get code(): string {
    return this.context.code;
  }
  get retryable(): boolean {
    return this.context.retryable;
  }
  get uncertain(): boolean {
    return this.context.uncertain === true;
  }
  /**
   * Nothing was delivered: Facebook answered with a Graph error, or the connection was
   * refused before the request left (unlike a timeout or a connection cut mid-request).
   */
  get definitelyNotSent(): boolean {
    return (this.context.status !== undefined && /^\d+$/.test(this.context.code)) || (this.context.code === 'network' && !this.uncertain);
  }
}
