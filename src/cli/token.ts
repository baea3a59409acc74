/**
 * `npm run token -- --email test@arway.com [--ttl 86400]`: prints a user JWT for development and
 * tests. The token is the last line of stdout, alone on it; diagnostics go to stderr.
 */
import { parseArgs } from 'node:util';
import { createAuth, resolveJwtSecret } from '../auth.js';
import { loadConfig } from '../config.js';
import { resolveDatabase } from '../persistence/database.js';
import { User } from '../persistence/entities/index.js';
import { initOrm } from '../persistence/orm.js';

const { values } = parseArgs({
  options: { email: { type: 'string', default: 'test@arway.com' }, ttl: { type: 'string' } },
});
const config = loadConfig();
const db = await resolveDatabase(config, { keepProcessAlive: false });
const orm = await initOrm({ url: db.url, poolMax: 1, logger: () => {} });
try {
  const user = await orm.em.fork().findOne(User, { email: values.email! });
  if (!user) {
    console.error(`no user with email ${values.email} (run the seeder: npm run seed)`);
    process.exitCode = 1;
  } else {
    const auth = createAuth(await resolveJwtSecret(config), values.ttl ? Number(values.ttl) : config.jwtTtlSeconds);
    process.stdout.write((await auth.signUserToken(user.id)) + '\n');
  }
} finally {
  await orm.close(true);
  await db.stop();
}
