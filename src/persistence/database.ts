import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import type { Config } from '../config.js';
import { prepareDataDir } from '../data-dir.js';
import type { DatabaseSetting } from './database-errors.js';
import { startEmbeddedPostgres } from './embedded.js';

export interface DatabaseTarget {
  url: string;
  /** 'external' when DATABASE_URL is set, else 'embedded'. */
  kind: 'external' | 'embedded';
  /** True when the embedded cluster was created by this start. */
  created: boolean;
  /** Stops the embedded cluster (no-op for an external database). */
  stop(): Promise<void>;
  /** Where the URL came from, for messages about it (see explainDatabaseError). */
  setting: DatabaseSetting;
}

/**
 * DATABASE_URL when set; otherwise starts (or creates) the embedded PostgreSQL in DATA_DIR, after
 * checking that DATA_DIR can hold it (prepareDataDir: refused with exit 78 before initdb otherwise).
 */
export async function resolveDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir' | 'embeddedPgPort'>,
  options: { keepProcessAlive?: boolean; log?: (line: string) => void; warn?: (line: string) => void } = {},
): Promise<DatabaseTarget> {
  if (config.databaseUrl) {
    const url = config.databaseUrl;
    return { url, kind: 'external', created: false, stop: async () => {}, setting: { url, kind: 'external' } };
  }
  await prepareDataDir(config.dataDir, { postgresUser: userInfo().uid === 0 });
  const pg = await startEmbeddedPostgres({
    dir: resolve(config.dataDir, 'pg'),
    port: config.embeddedPgPort,
    keepProcessAlive: options.keepProcessAlive,
    // One-shot commands (keepProcessAlive false) share the cluster of a server running on DATA_DIR.
    reuseRunning: options.keepProcessAlive === false,
    log: options.log,
    warn: options.warn,
  });
  return {
    url: pg.url,
    kind: 'embedded',
    created: pg.created,
    stop: () => pg.stop(),
    setting: { url: pg.url, kind: 'embedded', dataDir: config.dataDir },
  };
}
