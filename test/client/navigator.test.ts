import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientError, memoryStorage, NavigatorClient, type NavigationUpdateDto } from '../../src/client/index.js';
import { fileStorage } from '../../src/client/node.js';
import { NavigationSession } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { tokenFor } from '../helpers/client.js';
import { cafeOf, errorsOf, fix, range, sleep, storedSeqs, until } from './helpers.js';

/**
 * The navigator client against the real server (in-process) and PostgreSQL: a walk stored exactly
 * once, offline stretches resent in batches after resuming, an app restart over the same file
 * storage, the bounded queue, heading coalescing, and the end of a session.
 */

let t: TestApp;
let token: string;
let cafe: { id: string; lat: number; lon: number };
let dir: string;
const clients: NavigatorClient[] = [];

beforeAll(async () => {
  t = await startTestApp({ FLUSH_INTERVAL_MS: '20' });
  token = (await tokenFor(t)).token;
  cafe = await cafeOf(t);
  dir = await mkdtemp(join(tmpdir(), 'arway-client-test-'));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await t?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function navigator(options: Partial<ConstructorParameters<typeof NavigatorClient>[0]> = {}): NavigatorClient {
  const client = new NavigatorClient({ url: t.url, token, reconnectDelayMs: 50, reconnectDelayMaxMs: 500, ...options });
  clients.push(client);
  return client;
}

describe('NavigatorClient', () => {
  it('starts a session, sends every fix once in seq order, reports updates and durability, and ends', async () => {
    const client = navigator();
    const errors = errorsOf(client);
    const updates: NavigationUpdateDto[] = [];
    const durable: number[] = [];
    const states: string[] = [];
    client.on('update', (u) => updates.push(u));
    client.on('durable', (d) => durable.push(d.durableSeq));
    client.on('state', (s) => states.push(s));

    const started = await client.start(cafe.id, { lat: 37.49, lon: 127.0 });
    expect(started.session.status).toBe('active');
    expect(started.destination.id).toBe(cafe.id);
    expect(started.shareToken).toMatch(/^[\w-]{20,}$/);
    expect(client.sessionId).toBe(started.session.id);
    expect(client.state).toBe('online');

    const t0 = Date.now() - 60_000;
    const seqs = range(30).map((i) => client.position(fix(i, t0)));
    expect(seqs).toEqual(range(30)); // assigned synchronously, in order
    await client.drain(10_000);
    expect(client.pending).toBe(0);
    expect(client.durableSeq).toBe(29);
    expect(await storedSeqs(t, started.session.id)).toEqual(range(30));

    // Every update once (the ack and the room's broadcast carry the same one), in seq order.
    const seen = updates.map((u) => u.seq);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(seen.at(-1)).toBe(29);
    expect(client.lastUpdate?.seq).toBe(29);
    expect(durable.at(-1)).toBe(29);
    expect(states.slice(0, 3)).toEqual(['connecting', 'resuming', 'online']);

    const ended = new Promise((resolve) => client.once('ended', resolve));
    const session = await client.end('cancelled');
    expect(session?.status).toBe('cancelled');
    expect(await ended).toMatchObject({ sessionId: started.session.id, status: 'cancelled' });
    expect(() => client.position(fix(30))).toThrow(ClientError);
    expect(errors).toEqual([]);
  });

  it('queues fixes while offline and resends them after resuming, as batches of at most 500', async () => {
    const client = navigator();
    const errors = errorsOf(client);
    const resumed: { resending: number; durableSeq: number }[] = [];
    client.on('resumed', (r) => resumed.push(r));
    const { session } = await client.start(cafe.id);
    const t0 = Date.now() - 3_000_000;
    for (let i = 0; i < 10; i++) client.position(fix(i, t0));
    await client.drain(10_000);

    client.disconnect();
    expect(client.state).toBe('offline');
    for (let i = 10; i < 1_210; i++) expect(client.position(fix(i, t0))).toBe(i);
    expect(client.pending).toBe(1_200);
    const batchesBefore = client.stats.batches;
    client.connect();
    await client.drain(20_000);

    expect(await storedSeqs(t, session.id)).toEqual(range(1_210));
    expect(resumed.at(-1)).toMatchObject({ durableSeq: 9, resending: 1_200 });
    expect(client.stats.batches - batchesBefore).toBe(3); // 500 + 500 + 200
    expect(client.stats.accepted).toBe(1_210);
    expect(errors).toEqual([]);
    await client.end('cancelled');
  });

  it('an app restart: a new client over the same file storage resends what was not durable', async () => {
    const path = join(dir, 'restart.jsonl');
    const first = navigator({ storage: fileStorage(path) });
    const { session, shareToken } = await first.start(cafe.id);
    const t0 = Date.now() - 2_000_000;
    for (let i = 0; i < 20; i++) first.position(fix(i, t0));
    await first.drain(10_000);
    first.disconnect(); // the network goes, the walk goes on…
    for (let i = 20; i < 45; i++) first.position(fix(i, t0));
    await first.close(); // …and the app is killed
    expect(await storedSeqs(t, session.id)).toEqual(range(20));
    const lines = (await readFile(path, 'utf8')).trim().split('\n');
    expect(lines.filter((l) => l.startsWith('{"p":')).length).toBe(45);

    const second = navigator({ storage: fileStorage(path) });
    const errors = errorsOf(second);
    const restored = await second.restore();
    expect(restored).toMatchObject({ durableSeq: 19, lastSeq: 19, resending: 25 });
    expect(second.sessionId).toBe(session.id);
    expect(second.shareToken).toBe(shareToken);
    expect(second.position(fix(45, t0))).toBe(45); // numbering goes on
    await second.drain(10_000);
    expect(await storedSeqs(t, session.id)).toEqual(range(46));

    await second.end('completed');
    expect(existsSync(path)).toBe(false); // nothing left to keep
    expect(await new NavigatorClient({ url: t.url, token, storage: fileStorage(path) }).restore()).toBeNull();
    expect(errors).toEqual([]);
  });

  it('a stored session that has ended: restore() settles it and answers null', async () => {
    const storage = memoryStorage();
    const first = navigator({ storage });
    const { session } = await first.start(cafe.id);
    first.position(fix(0));
    await first.drain(10_000);
    first.disconnect();
    first.position(fix(1));
    await first.close();
    // Meanwhile the session was ended elsewhere (another device of the user).
    const other = navigator();
    await other.resume(session.id);
    await other.end('cancelled');

    const second = navigator({ storage });
    const errors = errorsOf(second);
    expect(await second.restore()).toBeNull();
    await until(() => storage.state === null, 5_000, () => JSON.stringify(storage.state));
    expect(errors.map((e) => e.code)).toEqual(['SESSION_CLOSED']); // seq 1 could not be stored: reported
    expect(errors[0]!.details.seqs).toEqual([1]);
  });

  it('refuses a fix the server would refuse, and a fix beyond maxQueuedPoints, with clear errors', async () => {
    const client = navigator({ maxQueuedPoints: 5 });
    expect(() => client.position(fix(0))).toThrow(/no session/);
    await client.start(cafe.id);
    expect(() => client.position({ lat: 91, lon: 0 })).toThrow(RangeError);
    expect(() => client.position({ lat: 0, lon: 0, accuracy: -1 })).toThrow(/accuracy/);
    expect(() => client.position({ lat: 0, lon: 0, recordedAt: Date.now() + 3_600_000 })).toThrow(/future/);
    client.disconnect();
    for (let i = 0; i < 5; i++) client.position(fix(i));
    let error: unknown;
    try {
      client.position(fix(5));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('QUEUE_FULL');
    expect(client.lastSeq).toBe(4); // the refused fix took no seq
    client.connect();
    await client.drain(10_000);
    expect(await storedSeqs(t, client.sessionId!)).toEqual(range(5));
    await client.end('cancelled');
  });

  it('coalesces headings to headingMaxHz, latest wins, and drops them while offline', async () => {
    const client = navigator({ headingMaxHz: 4 });
    await client.start(cafe.id);
    client.position(fix(0, Date.now() - 10_000));
    await client.drain(10_000);
    const updates: NavigationUpdateDto[] = [];
    client.on('update', (u) => updates.push(u));
    const started = Date.now();
    let heading = 0;
    while (Date.now() - started < 1_000) {
      client.heading({ heading: (heading = (heading + 3) % 360) });
      await sleep(10);
    }
    await sleep(400);
    // ~1 s at 4 Hz: at most 5 samples went out, the last one being the latest given.
    expect(client.stats.headingsSent).toBeGreaterThanOrEqual(3);
    expect(client.stats.headingsSent).toBeLessThanOrEqual(5);
    expect(client.stats.headingsSkipped).toBeGreaterThan(50);
    expect(updates.at(-1)!.heading).toBeCloseTo(heading, 6);

    client.disconnect();
    expect(client.heading({ heading: 10 })).toBe(false);
    const sent = client.stats.headingsSent;
    client.connect();
    await until(() => client.state === 'online', 5_000);
    await sleep(300);
    expect(client.stats.headingsSent).toBe(sent); // the offline sample was not queued
    await client.end('cancelled');
  });

  it('ends after sending what is queued: the session is closed with every point stored', async () => {
    const client = navigator();
    const { session } = await client.start(cafe.id);
    client.disconnect();
    for (let i = 0; i < 50; i++) client.position(fix(i));
    client.connect();
    const ended = await client.end('completed', 15_000);
    expect(ended?.status).toBe('completed');
    expect(await storedSeqs(t, session.id)).toEqual(range(50));
    const row = await t.app.orm.em.fork().findOneOrFail(NavigationSession, { id: session.id });
    expect(row.status).toBe('completed');
    expect(client.pending).toBe(0);
  });
});

describe('NavigatorClient and the durable seq carried by answers', () => {
  it('learns durableSeq from a heading acknowledgement, after which the server sends no navigation:durable', async () => {
    // navigation:durable would come only after a minute: the heading's answer is the only way to learn it.
    const app = await startTestApp({ FLUSH_INTERVAL_MS: '10', DURABLE_EVENT_MS: '60000' });
    const client = new NavigatorClient({ url: app.url, token: (await tokenFor(app)).token });
    try {
      const { session } = await client.start((await cafeOf(app)).id);
      client.position(fix(0));
      // Acknowledged before its commit (durableSeq -1 in the ack); committed a few ms later.
      for (let i = 0; i < 200 && (await storedSeqs(app, session.id)).length === 0; i++) await sleep(10);
      expect(await storedSeqs(app, session.id)).toEqual([0]);
      expect(client.durableSeq).toBe(-1);
      client.heading({ heading: 90 });
      await client.drain(3_000);
      expect(client.durableSeq).toBe(0);
    } finally {
      await client.close();
      await app.close();
    }
  });
});
