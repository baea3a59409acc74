/**
 * `npm run token -- --email test@arway.com [--ttl 86400]`: prints a user JWT for development and
 * tests. The token is the last line of stdout, alone on it; diagnostics go to stderr.
 */
import { parseArgs } from 'node:util';
import { openCliDatabase, signTokenForEmail } from './context.js';

const { values } = parseArgs({
  options: { email: { type: 'string', default: 'test@arway.com' }, ttl: { type: 'string' } },
});
const cli = await openCliDatabase();
try {
  const signed = await signTokenForEmail(cli, values.email!, values.ttl ? Number(values.ttl) : undefined);
  if (!signed) {
    console.error(`no user with email ${values.email} (run the seeder: npm run seed)`);
    process.exitCode = 1;
  } else {
    process.stdout.write(signed.token + '\n');
  }
} finally {
  await cli.close();
}
