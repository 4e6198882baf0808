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
