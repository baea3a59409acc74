import geographiclib from 'geographiclib-geodesic';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Destination } from '../../src/persistence/entities/index.js';
import { startTestApp, type TestApp } from '../helpers/app.js';
import { newUser, tokenFor } from '../helpers/client.js';
import { api, expectProblem, type ApiAnswer } from './helpers.js';

const WGS84 = geographiclib.Geodesic.WGS84;

let t: TestApp;
let token: string;
let userId: string;
let other: string;

beforeAll(async () => {
  t = await startTestApp();
  ({ token, userId } = await tokenFor(t));
  other = (await newUser(t, 'other@arway.com')).token;
});
afterAll(async () => {
  await t?.close();
});

describe('authentication', () => {
  it('answers 401 problem+json without, with a malformed, a forged, an expired or an unknown user’s token', async () => {
    const none = expectProblem(await api(t, 'GET', '/api/destinations'), 401, 'UNAUTHORIZED');
    expect(none.instance).toBe('/api/destinations');
    const malformed = await api(t, 'GET', '/api/destinations', { headers: { authorization: 'Token abc' } });
    expectProblem(malformed, 401, 'UNAUTHORIZED');
    expect(malformed.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expectProblem(await api(t, 'GET', '/api/destinations', { token: 'not.a.jwt' }), 401, 'UNAUTHORIZED');

    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuer('arway')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('another-secret-another-secret-another-secret'));
    expectProblem(await api(t, 'GET', '/api/destinations', { token: forged }), 401, 'UNAUTHORIZED');

    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuer('arway')
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(new TextEncoder().encode(t.config.jwtSecret!));
    expectProblem(await api(t, 'GET', '/api/destinations', { token: expired }), 401, 'UNAUTHORIZED');

    const ghost = await t.app.auth.signUserToken('3f1d2c4b-5a69-4e7d-8c1b-2a3f4e5d6c7b');
    expectProblem(await api(t, 'GET', '/api/destinations', { token: ghost }), 401, 'UNAUTHORIZED');

    expect((await api(t, 'GET', '/api/destinations', { token })).status).toBe(200);
  });

  it('answers 401 on every operation before looking at the input', async () => {
    const id = '3f1d2c4b-5a69-4e7d-8c1b-2a3f4e5d6c7b';
    for (const [method, path] of [
      ['GET', `/api/destinations/${id}`],
      ['POST', '/api/destinations'],
      ['PATCH', `/api/destinations/${id}`],
      ['DELETE', `/api/destinations/${id}`],
      ['GET', '/api/sessions'],
      ['GET', `/api/sessions/${id}`],
      ['GET', `/api/sessions/${id}/track.geojson`],
      ['GET', `/api/sessions/${id}/track.gpx`],
      ['POST', `/api/sessions/${id}/feedback`],
    ] as const) {
      expectProblem(await api(t, method, path, method === 'POST' || method === 'PATCH' ? { body: {} } : {}), 401, 'UNAUTHORIZED');
    }
  });

  it('answers unknown API routes with a NOT_FOUND problem', async () => {
    expectProblem(await api(t, 'GET', '/api/nothing-here', { token }), 404, 'NOT_FOUND');
    expectProblem(await api(t, 'GET', '/nothing-here?token=abc'), 404, 'NOT_FOUND');
  });
});

describe('GET /api/destinations', () => {
  it('lists the seeded active destinations with the socket protocol’s fields', async () => {
    const res = await api(t, 'GET', '/api/destinations', { token });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(2);
    expect(res.body.items.map((d: { name: string }) => d.name).sort()).toEqual(['테스트 목적지 1', '테스트 목적지 2']);
    const cafe = res.body.items.find((d: { description: string }) => d.description === '회사 앞 카페');
    expect(cafe).toMatchObject({ lat: 37.511, lon: 127.029, address: '서울시 강남구', arrivalRadius: 15, isActive: true });
    expect(cafe.distance).toBeUndefined();
    expect(res.body).toMatchObject({ limit: 20, offset: 0, nextOffset: null });
  });

  it('rejects bad query strings with VALIDATION_FAILED and the zod issues', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'offset=-1', 'limit=1&limit=2', 'near=91,0', 'near=0,181', 'near=abc', 'near=', 'colour=red']) {
      const body = expectProblem(await api(t, 'GET', `/api/destinations?${q}`, { token }), 400, 'VALIDATION_FAILED');
      expect(Array.isArray(body.issues) && body.issues.length > 0, q).toBe(true);
    }
    const body = expectProblem(await api(t, 'GET', '/api/destinations?limit=0', { token }), 400, 'VALIDATION_FAILED');
    expect(body.issues[0].path).toEqual(['limit']);
  });
});

describe('destination writes, pagination, ?near', () => {
  const created: { id: string; name: string; lat: number; lon: number }[] = [];

  it('creates destinations, rounding coordinates to the stored numeric(10,8)/(11,8)', async () => {
    const res = await api(t, 'POST', '/api/destinations', {
      token,
      body: { name: '  Gangnam station  ', lat: 37.49795212345, lon: 127.02761998765, arrivalRadius: 20.456 },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      name: 'Gangnam station',
      lat: 37.49795212,
      lon: 127.02761999,
      arrivalRadius: 20.46,
      description: null,
      address: null,
      isActive: true,
    });
    expect(res.headers.get('location')).toBe(`/api/destinations/${res.body.id}`);
    const [row] = await t.app.orm.em
      .getConnection()
      .execute<{ latitude: string; longitude: string; arrival_radius_m: string; created_by: string }[]>(
        'select latitude::text, longitude::text, arrival_radius_m::text, created_by from destinations where id = ?',
        [res.body.id],
      );
    expect(row).toEqual({ latitude: '37.49795212', longitude: '127.02761999', arrival_radius_m: '20.46', created_by: userId });
    const again = await api(t, 'GET', `/api/destinations/${res.body.id}`, { token });
    expect(again.body).toEqual(res.body);
    created.push({ id: res.body.id, name: res.body.name, lat: res.body.lat, lon: res.body.lon });

    // A default radius, and more points spread around Seoul for pagination and ?near.
    const spots = [
      { name: 'A Namsan tower', lat: 37.551169, lon: 126.988227 },
      { name: 'B City hall', lat: 37.566295, lon: 126.977945 },
      { name: 'C Jamsil', lat: 37.513272, lon: 127.100129 },
      { name: 'D Far north', lat: 38.2, lon: 127.5 },
      { name: 'E Busan', lat: 35.1796, lon: 129.0756, description: 'south', address: 'Busan' },
    ];
    for (const s of spots) {
      const r = await api(t, 'POST', '/api/destinations', { token: other, body: s });
      expect(r.status, r.text).toBe(201);
      expect(r.body.arrivalRadius).toBe(15);
      created.push({ id: r.body.id, name: r.body.name, lat: r.body.lat, lon: r.body.lon });
    }
  });

  it('rejects invalid destinations with the issue paths and writes nothing', async () => {
    const before = await t.app.orm.em.fork().count(Destination, {});
    const cases: [unknown, (string | number)[]][] = [
      [{ name: 'x', lat: 90.5, lon: 0 }, ['lat']],
      [{ name: 'x', lat: 0, lon: -180.01 }, ['lon']],
      [{ name: 'x', lat: '37.5', lon: 127 }, ['lat']],
      [{ lat: 0, lon: 0 }, ['name']],
      [{ name: '   ', lat: 0, lon: 0 }, ['name']],
      [{ name: 'x'.repeat(256), lat: 0, lon: 0 }, ['name']],
      [{ name: 'x', lat: 0, lon: 0, arrivalRadius: 0 }, ['arrivalRadius']],
      [{ name: 'x', lat: 0, lon: 0, arrivalRadius: 5000 }, ['arrivalRadius']],
      [{ name: 'x', lat: 0, lon: 0, isActive: false }, []],
      [{ name: 'x', lat: null, lon: 0 }, ['lat']],
    ];
    for (const [body, path] of cases) {
      const problem = expectProblem(await api(t, 'POST', '/api/destinations', { token, body }), 400, 'VALIDATION_FAILED');
      expect(problem.issues[0].path, JSON.stringify(body)).toEqual(path);
    }
    expectProblem(await api(t, 'POST', '/api/destinations', { token, rawBody: '{"name":', headers: { 'content-type': 'application/json' } }), 400, 'VALIDATION_FAILED');
    expectProblem(await api(t, 'POST', '/api/destinations', { token }), 400, 'VALIDATION_FAILED');
    expect(await t.app.orm.em.fork().count(Destination, {})).toBe(before);
  });

  it('pages through every active destination exactly once, with total and nextOffset', async () => {
    const seen: string[] = [];
    let offset: number | null = 0;
    let pages = 0;
    while (offset !== null) {
      const res: ApiAnswer<{ total: number; items: { id: string }[]; nextOffset: number | null }> = await api(t, 'GET', `/api/destinations?limit=3&offset=${offset}`, { token });
      expect(res.status).toBe(200);
      expect(res.body.total).toBe(8);
      expect(res.body.items.length).toBeLessThanOrEqual(3);
      seen.push(...res.body.items.map((d) => d.id));
      offset = res.body.nextOffset;
      pages++;
    }
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(8);
    const names = (await api(t, 'GET', '/api/destinations?limit=100', { token })).body.items.map((d: { name: string }) => d.name);
    expect(names).toEqual([...names].sort((a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)));
    const beyond = await api(t, 'GET', '/api/destinations?offset=50', { token });
    expect(beyond.body).toMatchObject({ items: [], total: 8, nextOffset: null });
  });

  it('?near sorts by WGS84 geodesic distance and returns it', async () => {
    const near = { lat: 37.5665, lon: 126.978 }; // next to City hall
    const res = await api(t, 'GET', `/api/destinations?near=${near.lat},${near.lon}&limit=100`, { token });
    expect(res.status).toBe(200);
    expect(res.body.total).toBe(8);
    const items = res.body.items as { id: string; name: string; lat: number; lon: number; distance: number }[];
    for (const d of items) {
      expect(d.distance).toBeCloseTo(WGS84.Inverse(near.lat, near.lon, d.lat, d.lon).s12!, 6);
    }
    const distances = items.map((d) => d.distance);
    expect(distances).toEqual([...distances].sort((a, b) => a - b));
    expect(items[0]!.name).toBe('B City hall');
    expect(items.at(-1)!.name).toBe('E Busan');
    expect(items.at(-1)!.distance).toBeGreaterThan(300_000);

    // Paging keeps the same order.
    const second = await api(t, 'GET', `/api/destinations?near=${near.lat},${near.lon}&limit=2&offset=2`, { token });
    expect(second.body.items.map((d: { id: string }) => d.id)).toEqual(items.slice(2, 4).map((d) => d.id));
    expect(second.body.nextOffset).toBe(4);
    // Spaces around the comma are fine.
    const spaced = await api(t, 'GET', `/api/destinations?near=${encodeURIComponent(' 35.18 , 129.07 ')}&limit=1`, { token });
    expect(spaced.body.items[0].name).toBe('E Busan');
  });

  it('PATCH changes only the given fields, for the creator only', async () => {
    const mine = created[0]!;
    const res = await api(t, 'PATCH', `/api/destinations/${mine.id}`, { token, body: { description: 'exit 2', arrivalRadius: 25 } });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toMatchObject({ name: mine.name, lat: mine.lat, lon: mine.lon, description: 'exit 2', arrivalRadius: 25 });
    const moved = await api(t, 'PATCH', `/api/destinations/${mine.id}`, { token, body: { lat: 37.4979, lon: 127.0276 } });
    expect(moved.body).toMatchObject({ lat: 37.4979, lon: 127.0276, description: 'exit 2' });

    expectProblem(await api(t, 'PATCH', `/api/destinations/${mine.id}`, { token: other, body: { name: 'mine now' } }), 403, 'FORBIDDEN');
    expectProblem(await api(t, 'PATCH', `/api/destinations/${mine.id}`, { token, body: {} }), 400, 'VALIDATION_FAILED');
    expectProblem(await api(t, 'PATCH', `/api/destinations/${mine.id}`, { token, body: { lat: 100 } }), 400, 'VALIDATION_FAILED');
    expectProblem(await api(t, 'PATCH', `/api/destinations/${mine.id}`, { token, body: { owner: 'x' } }), 400, 'VALIDATION_FAILED');
    expectProblem(await api(t, 'PATCH', '/api/destinations/not-a-uuid', { token, body: { name: 'y' } }), 400, 'VALIDATION_FAILED');
    expectProblem(
      await api(t, 'PATCH', '/api/destinations/3f1d2c4b-5a69-4e7d-8c1b-2a3f4e5d6c7b', { token, body: { name: 'y' } }),
      404,
      'NOT_FOUND',
    );
    expect((await api(t, 'GET', `/api/destinations/${mine.id}`, { token })).body.name).toBe(mine.name);
  });

  it('DELETE is soft: the destination leaves the list (and ?near) but stays readable, and can be restored', async () => {
    const busan = created.find((d) => d.name === 'E Busan')!;
    expectProblem(await api(t, 'DELETE', `/api/destinations/${busan.id}`, { token }), 403, 'FORBIDDEN');
    const del = await api(t, 'DELETE', `/api/destinations/${busan.id}`, { token: other });
    expect(del.status).toBe(204);
    expect(del.text).toBe('');
    expect((await api(t, 'DELETE', `/api/destinations/${busan.id}`, { token: other })).status).toBe(204);

    const list = await api(t, 'GET', '/api/destinations?limit=100', { token });
    expect(list.body.total).toBe(7);
    expect(list.body.items.map((d: { id: string }) => d.id)).not.toContain(busan.id);
    const near = await api(t, 'GET', '/api/destinations?near=35.18,129.07&limit=100', { token });
    expect(near.body.total).toBe(7);
    expect(near.body.items.map((d: { id: string }) => d.id)).not.toContain(busan.id);

    const one = await api(t, 'GET', `/api/destinations/${busan.id}`, { token });
    expect(one.body).toMatchObject({ id: busan.id, isActive: false });
    const row = await t.app.orm.em.fork().findOneOrFail(Destination, { id: busan.id });
    expect(row.isActive).toBe(false);

    const restored = await api(t, 'PATCH', `/api/destinations/${busan.id}`, { token: other, body: { isActive: true } });
    expect(restored.body.isActive).toBe(true);
    expect((await api(t, 'GET', '/api/destinations', { token })).body.total).toBe(8);
    expectProblem(await api(t, 'DELETE', '/api/destinations/3f1d2c4b-5a69-4e7d-8c1b-2a3f4e5d6c7b', { token }), 404, 'NOT_FOUND');
    expectProblem(await api(t, 'GET', '/api/destinations/3f1d2c4b-5a69-4e7d-8c1b-2a3f4e5d6c7b', { token }), 404, 'NOT_FOUND');
  });
});
