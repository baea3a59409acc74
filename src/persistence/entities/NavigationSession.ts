import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { Destination } from './Destination.js';
import { User } from './User.js';

export type SessionStatus = 'active' | 'completed' | 'cancelled';
export const SESSION_STATUSES: SessionStatus[] = ['active', 'completed', 'cancelled'];

/**
 * navigation_sessions (design §2.1.4), plus what the realtime protocol needs: the SHA-256 of the
 * share token (never the token itself), its expiry once the session has ended, the highest durable
 * seq, and the path length travelled so far.
 */
export const NavigationSession = defineEntity({
  name: 'NavigationSession',
  tableName: 'navigation_sessions',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    user: () => p.manyToOne(User).fieldName('user_id'),
    destination: () => p.manyToOne(Destination).fieldName('destination_id'),
    startLatitude: p.decimal('number').precision(10).scale(8).nullable(),
    startLongitude: p.decimal('number').precision(11).scale(8).nullable(),
    endLatitude: p.decimal('number').precision(10).scale(8).nullable(),
    endLongitude: p.decimal('number').precision(11).scale(8).nullable(),
    /** text with a CHECK constraint listing the statuses (MikroORM's portable enum mapping). */
    status: p.enum(SESSION_STATUSES).default('active'),
    startedAt: p.datetime().onCreate(() => new Date()),
    completedAt: p.datetime().nullable(),
    totalDistance: p.decimal('number').precision(10).scale(2).nullable(),
    shareTokenHash: p.string().length(64).nullable().unique('navigation_sessions_share_token_hash_unique'),
    shareTokenExpiresAt: p.datetime().nullable(),
    /** Highest seq committed for this session (-1: none); advanced in the same transaction as the points. */
    lastSeq: p.bigint('number').default(-1),
  },
  indexes: [{ name: 'idx_nav_sessions_user_started', properties: ['user', 'startedAt'] }],
});
export type INavigationSession = InferEntity<typeof NavigationSession>;
