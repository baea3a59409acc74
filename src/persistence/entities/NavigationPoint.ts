import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { NavigationSession } from './NavigationSession.js';

/**
 * navigation_points (design §2.1.5) with the client's per-session `seq` (unique per session: the
 * last line of defence against a resend stored twice). `accuracy` is widened from the design's
 * numeric(5,2) to numeric(7,2): a phone reporting 1 500 m accuracy is real data, not an error, and
 * clamping would lie about it. Wider values (over MAX_ACCURACY_M of src/contracts) are refused on the wire.
 */
export const NavigationPoint = defineEntity({
  name: 'NavigationPoint',
  tableName: 'navigation_points',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    session: () => p.manyToOne(NavigationSession).fieldName('session_id').deleteRule('cascade'),
    seq: p.bigint('number'),
    latitude: p.decimal('number').precision(10).scale(8),
    longitude: p.decimal('number').precision(11).scale(8),
    heading: p.decimal('number').precision(5).scale(2).nullable(),
    accuracy: p.decimal('number').precision(7).scale(2).nullable(),
    distanceToTarget: p.decimal('number').precision(10).scale(2).nullable(),
    bearing: p.decimal('number').precision(5).scale(2).nullable(),
    relativeAngle: p.decimal('number').precision(5).scale(2).nullable(),
    recordedAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ name: 'idx_nav_points_session_time', properties: ['session', 'recordedAt'] }],
  uniques: [{ name: 'uq_nav_points_session_seq', properties: ['session', 'seq'] }],
});
export type INavigationPoint = InferEntity<typeof NavigationPoint>;
