import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { jwtVerify, SignJWT } from 'jose';
import type { Config } from './config.js';
import { prepareDataDir } from './data-dir.js';

/**
 * Authentication primitives shared by the socket and HTTP layers: HS256 user JWTs (`sub` = user id)
 * and session share tokens (random, 160 bits, stored only as their SHA-256).
 */
export interface Auth {
  signUserToken(userId: string, ttlSeconds?: number): Promise<string>;
  /** The user id of a valid token; throws AuthError otherwise. */
  verifyUserToken(token: string): Promise<string>;
  /** The user id and expiry (`exp`, epoch ms; null for a token without one) of a valid token; throws AuthError otherwise. */
  verifyUser(token: string): Promise<{ userId: string; expiresAtMs: number | null }>;
}

export class AuthError extends Error {
  override name = 'AuthError';
}

const ISSUER = 'arway';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The JWT secret: JWT_SECRET when set; outside production, one generated on first use and kept in
 * DATA_DIR/jwt-secret so tokens survive restarts. Production without JWT_SECRET is refused.
 */
export async function resolveJwtSecret(config: Pick<Config, 'jwtSecret' | 'dataDir' | 'env'>): Promise<Uint8Array> {
  if (config.jwtSecret) return new TextEncoder().encode(config.jwtSecret);
  if (config.env === 'production') {
    throw new AuthError('JWT_SECRET must be set in production (at least 32 characters)');
  }
  const file = resolve(config.dataDir, 'jwt-secret');
  if (existsSync(file)) return new TextEncoder().encode((await readFile(file, 'utf8')).trim());
  await prepareDataDir(config.dataDir); // refuses an unusable DATA_DIR in one sentence (exit 78)
  const secret = randomBytes(48).toString('base64url');
  await writeFile(file, secret + '\n', { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err; // another process created it first: use theirs
  });
  return new TextEncoder().encode((await readFile(file, 'utf8')).trim());
}

export function createAuth(secret: Uint8Array, defaultTtlSeconds: number): Auth {
  const verifyUser: Auth['verifyUser'] = async (token) => {
    try {
      const { payload } = await jwtVerify(token, secret, { algorithms: ['HS256'], issuer: ISSUER });
      if (typeof payload.sub !== 'string' || !UUID_RE.test(payload.sub)) throw new AuthError('token subject is not a user id');
      return { userId: payload.sub, expiresAtMs: typeof payload.exp === 'number' ? payload.exp * 1000 : null };
    } catch (err) {
      throw err instanceof AuthError ? err : new AuthError('invalid or expired token');
    }
  };
  return {
    async signUserToken(userId, ttlSeconds = defaultTtlSeconds) {
      return new SignJWT({})
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(userId)
        .setIssuer(ISSUER)
        .setIssuedAt()
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
        .sign(secret);
    },
    verifyUser,
    verifyUserToken: async (token) => (await verifyUser(token)).userId,
  };
}

/** A new share token: 160 random bits, URL-safe. Only its hash is stored. */
export function newShareToken(): { token: string; hash: string } {
  const token = randomBytes(20).toString('base64url');
  return { token, hash: hashShareToken(token) };
}

export function hashShareToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time comparison of a presented share token with a stored hash. */
export function shareTokenMatches(token: string, storedHash: string): boolean {
  const a = Buffer.from(hashShareToken(token), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
