import type { DestinationDto, SessionDto, SessionStatus } from './contracts/index.js';

/**
 * The stored shapes of destinations and sessions as the transport layers see them (realtime and
 * REST storage ports both speak these), and their mapping to the wire DTOs. No I/O.
 */

export interface DestinationRecord {
  id: string;
  name: string;
  description: string | null;
  lat: number;
  lon: number;
  address: string | null;
  arrivalRadiusM: number;
  isActive: boolean;
}

export interface SessionRecord {
  id: string;
  userId: string;
  destinationId: string;
  status: SessionStatus;
  startedAt: Date;
  completedAt: Date | null;
  start: { lat: number; lon: number } | null;
  end: { lat: number; lon: number } | null;
  totalDistanceM: number | null;
  shareTokenHash: string | null;
  shareTokenExpiresAt: Date | null;
  /** Highest seq committed for this session, -1 when none. */
  durableSeq: number;
}

export function destinationDto(d: DestinationRecord): DestinationDto {
  return {
    id: d.id,
    name: d.name,
    description: d.description,
    lat: d.lat,
    lon: d.lon,
    address: d.address,
    arrivalRadius: d.arrivalRadiusM,
    isActive: d.isActive,
  };
}

export function sessionDto(r: SessionRecord): SessionDto {
  return {
    id: r.id,
    userId: r.userId,
    destinationId: r.destinationId,
    status: r.status,
    startedAt: r.startedAt.toISOString(),
    completedAt: r.completedAt ? r.completedAt.toISOString() : null,
    start: r.start,
    end: r.end,
    totalDistance: r.totalDistanceM,
  };
}

/**
 * Storage is down or cannot be reached (not: this query is wrong). Thrown by the storage
 * implementations of both transport layers' ports: the realtime layer answers UNAVAILABLE, the REST
 * API 503 UNAVAILABLE with Retry-After.
 */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
}
