import { randomUUID } from 'node:crypto';
import { defineEntity, p, type InferEntity } from '@mikro-orm/core';
import { User } from './User.js';

/** Default radius around a destination inside which a walker counts as arrived. */
export const DEFAULT_ARRIVAL_RADIUS_M = 15;

/**
 * destinations (design §2.1.3). Coordinates are numeric(10,8)/(11,8) as in the design and come back
 * as JS numbers (8 decimals ≈ 1 mm, exactly representable in a double to that precision).
 */
export const Destination = defineEntity({
  name: 'Destination',
  tableName: 'destinations',
  properties: {
    id: p.uuid().primary().onCreate(() => randomUUID()),
    name: p.string(),
    description: p.text().nullable(),
    latitude: p.decimal('number').precision(10).scale(8),
    longitude: p.decimal('number').precision(11).scale(8),
    address: p.string().nullable(),
    isActive: p.boolean().default(true),
    arrivalRadiusM: p.decimal('number').precision(6).scale(2).default(DEFAULT_ARRIVAL_RADIUS_M),
    createdBy: () => p.manyToOne(User).nullable().fieldName('created_by').deleteRule('set null'),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});
export type IDestination = InferEntity<typeof Destination>;
