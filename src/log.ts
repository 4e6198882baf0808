/** pino logger with secrets redacted: tokens, the app secret and signature headers never reach a log line. */
import pino from 'pino';

export type Logger = pino.Logger;

export const REDACT_PATHS = [
  'access_token',
  '*.access_token',
  'accessToken',
  '*.accessToken',
  'appSecret',
  '*.appSecret',
  'token',
  '*.token',
  'headers["x-hub-signature"]',
  'headers["x-hub-signature-256"]',
  'headers.authorization',
  '*.headers["x-hub-signature"]',
  '*.headers["x-hub-signature-256"]',
  '*.headers.authorization',
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination,
  );
}

/**
 * Where dev mode logs on a terminal: pino-pretty's readable, coloured lines. It is a dev
 * dependency, loaded only here: in production, in a pipe or a container's log, and
 * wherever it is not installed (the image), the logs stay one JSON object a line.
 */
export async function terminalDestination(production: boolean, out: NodeJS.WriteStream = process.stdout): Promise<pino.DestinationStream | undefined> {
  if (production || !out.isTTY) return undefined;
  try {
    const { default: pretty } = await import('pino-pretty');
    return pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true, sync: true }); // sync: the last lines before an exit are kept
  } catch {
    return undefined;
  }
}
