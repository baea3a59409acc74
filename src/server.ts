import { loadConfig } from './config.js';
import { createApp } from './app.js';
import { createLogger } from './logger.js';
import { fatal } from './operator-error.js';

/**
 * Entry point (`npm start`): load the config, build the app, listen, stop cleanly on signals. An
 * operator's mistake (OperatorError: configuration, DATA_DIR, DATABASE_URL) is one sentence on
 * stderr and its exit code (78 for configuration); anything else a stack trace and exit code 1.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config.logLevel, {}, undefined, { env: config.env });
  const started = performance.now();
  const app = await createApp(config, { logger: log });
  const url = await app.listen();
  log.info(
    { url, database: app.database.kind, startupMs: Math.round(performance.now() - started) },
    `ARWay server listening on ${url} (database: ${app.database.kind})`,
  );

  let signalledAtMs: number | null = null;
  const stop = (signal: NodeJS.Signals) => {
    if (signalledAtMs !== null) {
      // The same Ctrl-C can arrive twice (from the terminal to the process group, and relayed by
      // npm): only a signal a second or more after the first means "exit now".
      if (Date.now() - signalledAtMs < 1_000) return;
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalledAtMs = Date.now();
    log.info({ signal }, 'signal received, stopping');
    const timer = setTimeout(() => {
      log.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out, exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 2_000);
    timer.unref();
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err: unknown) => {
  const { message, exitCode } = fatal(err);
  console.error(message);
  process.exit(exitCode);
});
