import type { EntityManager } from '@mikro-orm/core';
import { Seeder } from '@mikro-orm/seeder';
import { Destination, User } from '../entities/index.js';

/** The product design's seed data (§2.3.1). */
export const SEED_USER = { email: 'test@arway.com', name: 'Test User' } as const;
export const SEED_DESTINATIONS = [
  { name: '테스트 목적지 1', description: '회사 앞 카페', latitude: 37.511, longitude: 127.029, address: '서울시 강남구' },
  { name: '테스트 목적지 2', description: '역 출구', latitude: 37.5561, longitude: 126.9723, address: '서울시 중구' },
] as const;

/**
 * Seeds the test user and the two Seoul destinations. Idempotent: the user is found by email and a
 * destination by its name and creator, so running it again adds nothing.
 */
export class DatabaseSeeder extends Seeder {
  async run(em: EntityManager): Promise<void> {
    const user = (await em.findOne(User, { email: SEED_USER.email })) ?? em.create(User, { ...SEED_USER });
    for (const seed of SEED_DESTINATIONS) {
      const existing = await em.findOne(Destination, { name: seed.name, createdBy: user });
      if (!existing) em.create(Destination, { ...seed, createdBy: user, isActive: true });
    }
    await em.flush();
  }
}
