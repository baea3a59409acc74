import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { NavigationSession } from './NavigationSession.js';

/** Known analytics event types (design §2.1.7); the column stays a string so new ones need no migration. */
export type AnalyticsEventType = 'arrive' | 'heading_update' | 'distance_update' | (string & {});

/** analytics_events (design §2.1.7): JSONB data, indexed by session + type + time. */
export const AnalyticsEvent = defineEntity({
  name: 'AnalyticsEvent',
  tableName: 'analytics_events',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    session: () => p.manyToOne(NavigationSession).fieldName('session_id').deleteRule('cascade'),
    eventType: p.string().$type<AnalyticsEventType>(),
    eventData: p.json<Record<string, unknown>>().nullable(),
    recordedAt: p.datetime().onCreate(() => new Date()),
  },
  indexes: [{ name: 'idx_analytics_session_type_time', properties: ['session', 'eventType', 'recordedAt'] }],
});
export type IAnalyticsEvent = InferEntity<typeof AnalyticsEvent>;
