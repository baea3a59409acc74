/**
 * `npm run token -- --email test@arway.com [--ttl 86400]`: prints a user JWT for development and
 * tests. The token is the last line of stdout, alone on it; diagnostics go to stderr, one line each.
 *
 * Exit codes: 0 printed; 1 no such user, or the database unreachable or not migrated; 2 bad
 * options (usage); 78 a configuration error (the environment, e.g. DATABASE_URL's host or password).
 */
import { parseArgs } from 'node:util';
import { EXIT_FAILURE, EXIT_USAGE, fatal, OperatorError } from '../operator-error.js';
import { openCliDatabase, signTokenForEmail } from './context.js';

const MAX_TTL_SECONDS = 31_536_000;

const USAGE = `Usage: npm run token -- [--email <email>] [--ttl <seconds>]

Prints a JWT for a user, signed with the server's secret (JWT_SECRET, or the one generated in
DATA_DIR), as the last line of stdout.

  --email <email>    the user (default test@arway.com, created by the seed)
  --ttl <seconds>    lifetime, a whole number of seconds from 1 to ${MAX_TTL_SECONDS} (default JWT_TTL_SECONDS)
  --help             this text

Exit codes: 0 printed; 1 no such user, database unreachable or not migrated; 2 bad options;
78 configuration error.`;

const usageError = (problem: string) =>
  new OperatorError(`npm run token: ${problem} (npm run token -- --help for usage)`, EXIT_USAGE);

function parse(): { help: true } | { help: false; email: string; ttlSeconds: number | undefined } {
  let values;
  try {
    ({ values } = parseArgs({
      strict: true,
      allowPositionals: false,
      options: { email: { type: 'string', default: 'test@arway.com' }, ttl: { type: 'string' }, help: { type: 'boolean', default: false } },
    }));
  } catch (err) {
    // Node's own text is several sentences (with a hint about '--'): the first one says it.
    const first = ((err as Error).message.split(/\.\s/)[0] ?? String(err)).replace(/\.$/, '');
    throw usageError(first.charAt(0).toLowerCase() + first.slice(1));
  }
  if (values.help) return { help: true };
  let ttlSeconds: number | undefined;
  if (values.ttl !== undefined) {
    ttlSeconds = /^\d+$/.test(values.ttl) ? Number(values.ttl) : NaN;
    if (!(ttlSeconds >= 1 && ttlSeconds <= MAX_TTL_SECONDS)) {
      throw usageError(`--ttl must be a whole number of seconds from 1 to ${MAX_TTL_SECONDS}, got ${JSON.stringify(values.ttl)}`);
    }
  }
  return { help: false, email: values.email, ttlSeconds };
}

async function main(): Promise<void> {
  const args = parse();
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const cli = await openCliDatabase();
  try {
    const signed = await signTokenForEmail(cli, args.email, args.ttlSeconds);
    if (!signed) throw new OperatorError(`no user with email ${args.email} (run the seeder: npm run seed)`, EXIT_FAILURE);
    process.stdout.write(signed.token + '\n');
  } finally {
    await cli.close();
  }
}

main().catch((err: unknown) => {
  const { message, exitCode } = fatal(err);
  console.error(message);
  process.exitCode = exitCode;
});
