/** Process entry: validate the config, start the roles, drain on SIGTERM/SIGINT. */
import { startApp } from './app';
import { ConfigError, loadConfig } from './config';
import { RedisServerMissingError } from './dev/redis-server';
import { devUrls } from './dev/urls';
import { createLogger, terminalDestination } from './log';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel, await terminalDestination(config.production));
  for (const w of config.warnings) logger.warn(w);
  let app;
  try {
    app = await startApp(config, logger);
  } catch (err) {
    if (err instanceof RedisServerMissingError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    logger.fatal({ err }, 'start failed');
    process.exit(1);
  }
  for (const line of devUrls(config, app)) logger.info(line);
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining: no new work, finishing in-flight events');
    setTimeout(() => {
      logger.error('drain did not finish within SHUTDOWN_TIMEOUT_MS: exiting; unfinished events stay queued');
      process.exit(1);
    }, config.worker.shutdownTimeoutMs).unref();
    app
      .stop()
      .then(() => {
        logger.info('stopped');
        process.exit(0);
      })
      .catch((err) => {
        logger.error({ err }, 'error while stopping');
        process.exit(1);
      });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
