import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { NavigationSession } from './NavigationSession.js';
import { User } from './User.js';

/**
 * feedback (design §2.1.6). The rating is 1..5, enforced by a CHECK constraint. The design's
 * idx_feedback_session is kept, as a unique index: one feedback per session.
 */
export const Feedback = defineEntity({
  name: 'Feedback',
  tableName: 'feedback',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    session: () => p.manyToOne(NavigationSession).fieldName('session_id').deleteRule('cascade'),
    user: () => p.manyToOne(User).fieldName('user_id'),
    rating: p.integer(),
    comment: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
  uniques: [{ name: 'idx_feedback_session', properties: ['session'] }],
  checks: [{ name: 'feedback_rating_check', expression: 'rating >= 1 and rating <= 5' }],
});
export type IFeedback = InferEntity<typeof Feedback>;
