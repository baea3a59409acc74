import { EXIT_CONFIG, EXIT_FAILURE, maskUrlPassword, OperatorError } from '../operator-error.js';

/**
 * The driver's error when connecting to PostgreSQL (node-postgres, through MikroORM/Knex), as one
 * sentence naming the setting with its password masked and the cause. A wrong setting (unknown
 * host, role, password, database) exits 78 (EX_CONFIG); a database that is not answering (refused,
 * timed out, unreachable) exits 1: it may answer at the next start.
 */
export interface DatabaseSetting {
  /** The URL that was used. */
  url: string;
  /** Where it came from, for the message: `DATABASE_URL`, or the embedded cluster in DATA_DIR. */
  kind: 'external' | 'embedded';
  /** DATA_DIR, for the embedded cluster. */
  dataDir?: string;
}

interface DriverError {
  code?: unknown;
  message?: unknown;
  errors?: unknown;
  cause?: unknown;
}

/** The error and its causes (MikroORM wraps the driver's error; Node wraps per-address attempts). */
function* chain(err: unknown): Generator<DriverError> {
  const seen = new Set<unknown>();
  const stack = [err];
  while (stack.length > 0) {
    const e = stack.pop();
    if (e === null || typeof e !== 'object' || seen.has(e)) continue;
    seen.add(e);
    yield e as DriverError;
    const { cause, errors } = e as DriverError;
    stack.push(cause);
    if (Array.isArray(errors)) stack.push(...(errors as unknown[]));
  }
}

function target(url: string): { host: string; port: string; user: string; database: string } {
  try {
    const u = new URL(url);
    return {
      host: u.hostname || 'localhost',
      port: u.port || '5432',
      user: decodeURIComponent(u.username) || '(default user)',
      database: decodeURIComponent(u.pathname.replace(/^\//, '')) || '(default database)',
    };
  } catch {
    return { host: '?', port: '?', user: '?', database: '?' };
  }
}

/** The setting, for a message: `DATABASE_URL=postgres://user:***@host/db`, or the embedded cluster's DATA_DIR. */
export function describeSetting(setting: DatabaseSetting): string {
  return setting.kind === 'external'
    ? `DATABASE_URL=${maskUrlPassword(setting.url)}`
    : `the embedded PostgreSQL of DATA_DIR=${setting.dataDir ?? '?'} (${maskUrlPassword(setting.url)})`;
}

/** An OperatorError for a connection problem, or null when `err` is something else (a bug, a query error). */
export function explainDatabaseError(err: unknown, setting: DatabaseSetting): OperatorError | null {
  const t = target(setting.url);
  const where = describeSetting(setting);
  const fix = (what: string) =>
    setting.kind === 'external' ? `fix ${what} in DATABASE_URL` : `restore DATA_DIR/embedded-pg.json or start over with an empty DATA_DIR`;
  const say = (message: string, exitCode: number) =>
    new OperatorError(/[.?!]$/.test(message) ? message : `${message}.`, exitCode, { cause: err });

  for (const e of chain(err)) {
    const code = typeof e.code === 'string' ? e.code : '';
    const text = typeof e.message === 'string' ? e.message : '';
    switch (code) {
      case '28P01':
        return say(`Cannot log in to ${where}: authentication failed for role "${t.user}" (wrong password); ${fix('the user or password')}`, EXIT_CONFIG);
      case '28000':
        return say(`Cannot log in to ${where}: ${text || 'authorization failed'}; ${fix('the user')} or create that role`, EXIT_CONFIG);
      case '3D000':
        return say(`Cannot use ${where}: database "${t.database}" does not exist; create it (createdb ${t.database}) or ${fix('the database name')}`, EXIT_CONFIG);
      case '42501':
        if (/create database/i.test(text)) {
          return say(`Cannot create database "${t.database}" for ${where}: role "${t.user}" may not (${text}); create it (createdb ${t.database}) or grant CREATEDB`, EXIT_CONFIG);
        }
        break;
      case 'ECONNREFUSED':
        return say(`Cannot connect to ${where}: connection refused by ${t.host}:${t.port}; is PostgreSQL running and listening there?`, EXIT_FAILURE);
      case 'ENOTFOUND':
        return say(`Cannot connect to ${where}: host "${t.host}" not found; ${fix('the host name')}`, EXIT_CONFIG);
      case 'EAI_AGAIN':
        return say(`Cannot connect to ${where}: the name "${t.host}" could not be resolved right now (DNS lookup failed temporarily); check the network, then start again`, EXIT_FAILURE);
      case 'ETIMEDOUT':
        return say(`Cannot connect to ${where}: ${t.host}:${t.port} did not answer (timed out); check the host, port and firewall`, EXIT_FAILURE);
      case 'EHOSTUNREACH':
      case 'ENETUNREACH':
        return say(`Cannot connect to ${where}: ${t.host} is unreachable (${code}); check the host and the network`, EXIT_FAILURE);
      case 'ECONNRESET':
        return say(`Cannot connect to ${where}: ${t.host}:${t.port} closed the connection (ECONNRESET); is it a PostgreSQL server, and does it accept this client?`, EXIT_FAILURE);
    }
    if (/^timeout expired$|connection timeout/i.test(text)) {
      return say(`Cannot connect to ${where}: ${t.host}:${t.port} did not answer in time (connection timed out); check the host, port and firewall`, EXIT_FAILURE);
    }
    if (/^Connection terminated unexpectedly$/.test(text)) {
      return say(`Cannot connect to ${where}: ${t.host}:${t.port} closed the connection during the login; is it a PostgreSQL server that accepts this client?`, EXIT_FAILURE);
    }
    if (/does not support SSL|SSL (is )?(not enabled|required)|self[- ]signed certificate|certificate/i.test(text)) {
      return say(`Cannot connect to ${where}: TLS negotiation failed (${text}); adjust sslmode in DATABASE_URL`, EXIT_CONFIG);
    }
  }
  return null;
}

/** Runs `step` and turns a connection problem into its {@link OperatorError}. */
export async function explainingConnectionErrors<T>(setting: DatabaseSetting, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    throw explainDatabaseError(err, setting) ?? err;
  }
}
