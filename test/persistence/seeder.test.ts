import { afterAll, beforeAll, expect, it } from 'vitest';
import { Destination, User } from '../../src/persistence/entities/index.js';
import { DatabaseSeeder } from '../../src/persistence/seeders/DatabaseSeeder.js';
import { createTestOrm } from '../helpers/db.js';

/** The product design's seed data (§2.3.1), and the seeder's idempotence. */

let t: Awaited<ReturnType<typeof createTestOrm>>;
beforeAll(async () => {
  t = await createTestOrm();
});
afterAll(async () => {
  await t?.close();
});

async function snapshot() {
  const em = t.orm.em.fork();
  const users = await em.find(User, {}, { orderBy: { email: 'asc' } });
  const destinations = await em.find(Destination, {}, { orderBy: { name: 'asc' }, populate: ['createdBy'] });
  return { users, destinations };
}

it('seeds the test user and the two Seoul destinations, and running it twice adds nothing', async () => {
  await t.orm.seeder.seed(DatabaseSeeder);
  const first = await snapshot();
  await t.orm.seeder.seed(DatabaseSeeder);
  const second = await snapshot();

  expect(second.users).toHaveLength(1);
  const [user] = second.users;
  expect(user).toMatchObject({ email: 'test@arway.com', name: 'Test User' });

  expect(second.destinations.map((d) => ({
    name: d.name,
    description: d.description,
    latitude: d.latitude,
    longitude: d.longitude,
    address: d.address,
    isActive: d.isActive,
    createdBy: d.createdBy?.id,
  }))).toEqual([
    { name: '테스트 목적지 1', description: '회사 앞 카페', latitude: 37.511, longitude: 127.029, address: '서울시 강남구', isActive: true, createdBy: user!.id },
    { name: '테스트 목적지 2', description: '역 출구', latitude: 37.5561, longitude: 126.9723, address: '서울시 중구', isActive: true, createdBy: user!.id },
  ]);
  for (const d of second.destinations) expect(d.arrivalRadiusM).toBeGreaterThan(0);

  // The second run changed nothing: same rows, same ids.
  expect(second.users.map((u) => u.id)).toEqual(first.users.map((u) => u.id));
  expect(second.destinations.map((d) => d.id)).toEqual(first.destinations.map((d) => d.id));
});

it('keeps other users and destinations alone', async () => {
  const em = t.orm.em.fork();
  const other = em.create(User, { email: 'someone@example.com', name: 'Someone' });
  em.create(Destination, { name: '테스트 목적지 1', latitude: 1, longitude: 2, createdBy: other });
  await em.flush();
  await t.orm.seeder.seed(DatabaseSeeder);
  const { users, destinations } = await snapshot();
  expect(users.map((u) => u.email)).toEqual(['someone@example.com', 'test@arway.com']);
  expect(destinations).toHaveLength(3);
  expect(destinations.filter((d) => d.createdBy?.email === 'test@arway.com')).toHaveLength(2);
});
