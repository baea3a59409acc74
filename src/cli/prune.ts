/**
 * `npm run prune [-- --days N] [--dry-run]`: deletes ended sessions whose end is older than N days
 * (default RETENTION_DAYS) with their points, analytics events and feedback — what the server's
 * background retention does, by hand. `--dry-run` counts what would go and deletes nothing.
 * Active sessions are never touched. Takes the same advisory lock as the servers' background job:
 * while one runs, this says so and exits 1.
 *
 * Exit codes: 0 done; 1 another prune is running, or the database unreachable or not migrated;
 * 2 bad options; 78 a configuration error.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.js';
import { EXIT_FAILURE, EXIT_USAGE, fatal, OperatorError } from '../operator-error.js';
import { Pruner, type PruneReport } from '../persistence/retention.js';
import { openCliDatabase } from './context.js';

const MAX_DAYS = 36_500;

const USAGE = `Usage: npm run prune -- [--days <n>] [--dry-run]

Deletes ended sessions that ended more than <n> days ago, with their points, analytics events and
feedback (active sessions are never touched), in short statements of RETENTION_BATCH_ROWS rows.

  --days <n>     whole days from 1 to ${MAX_DAYS} (default RETENTION_DAYS)
  --dry-run      count what would be deleted, delete nothing
  --help         this text

Exit codes: 0 done; 1 another prune is running, database unreachable or not migrated;
2 bad options; 78 configuration error.`;

const usageError = (problem: string) => new OperatorError(`npm run prune: ${problem} (npm run prune -- --help for usage)`, EXIT_USAGE);

function parsePruneArgs(args: string[], retentionDays: number | null): { help: true } | { help: false; days: number; dryRun: boolean } {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: { days: { type: 'string' }, 'dry-run': { type: 'boolean', default: false }, help: { type: 'boolean', default: false } },
    }));
  } catch (err) {
    const first = ((err as Error).message.split(/\.\s/)[0] ?? String(err)).replace(/\.$/, '');
    throw usageError(first.charAt(0).toLowerCase() + first.slice(1));
  }
  if (values.help) return { help: true };
  let days = retentionDays;
  if (values.days !== undefined) {
    days = /^\d+$/.test(values.days) ? Number(values.days) : NaN;
    if (!(days >= 1 && days <= MAX_DAYS)) throw usageError(`--days must be a whole number of days from 1 to ${MAX_DAYS}, got ${JSON.stringify(values.days)}`);
  }
  if (days === null) throw usageError('no retention period: pass --days <n> or set RETENTION_DAYS');
  return { help: false, days, dryRun: values['dry-run'] };
}

function describeReport(r: PruneReport): string {
  const what = `${r.sessions} sessions, ${r.points} points, ${r.events} analytics events, ${r.feedback} feedback`;
  const when = `ended before ${r.cutoff.toISOString()}`;
  if (r.dryRun) return `dry run: would delete ${what} (${when})`;
  const rows = r.sessions + r.points + r.events + r.feedback;
  const rate = r.durationMs > 0 ? Math.round(rows / (r.durationMs / 1000)) : 0;
  return `deleted ${what} (${when}) in ${(r.durationMs / 1000).toFixed(1)} s, ${rate} rows/s`;
}

async function main(): Promise<void> {
  const config = loadConfig();
  const args = parsePruneArgs(process.argv.slice(2), config.retentionDays);
  if (args.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const cli = await openCliDatabase(config);
  try {
    const report = await new Pruner(cli.orm).prune({ retentionDays: args.days, batchRows: config.retentionBatchRows, dryRun: args.dryRun });
    if (!report.ran) throw new OperatorError('another prune is running (a server’s background retention or another npm run prune): try again later', EXIT_FAILURE);
    process.stdout.write(describeReport(report) + '\n');
  } finally {
    await cli.close();
  }
}

main().catch((err: unknown) => {
  const { message, exitCode } = fatal(err);
  console.error(message);
  process.exitCode = exitCode;
});
