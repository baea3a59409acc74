/**
 * `arway-server/client`: the app side of the ARWay realtime protocol (docs/client.md), over
 * socket.io-client. No Node-only imports here (ESLint enforces it), so it runs in browsers, React
 * Native and Node; the Node file storage is in `arway-server/client/node`. The server also serves
 * this module as one browser ES module at `/client/arway-client.js`.
 */
export { NavigatorClient } from './navigator.js';
export type {
  ArrivedEvent,
  BackoffEvent,
  ClientState,
  EndedEvent,
  NavigatorEvents,
  NavigatorOptions,
  NavigatorStats,
  ObserversEvent,
  ResumedEvent,
  ResumeResult,
  StartResult,
} from './navigator.js';
export { ObserverClient } from './observer.js';
export type { ObservedPoint, ObserverEvents, ObserverOptions, ObserverStats } from './observer.js';
export { ClientError } from './errors.js';
export type { ClientErrorCode } from './errors.js';
export { keyValueStorage, memoryStorage, STORAGE_VERSION } from './storage.js';
export type { KeyValueStore, NavigatorStorage, StoredQueue, StoredSession } from './storage.js';
export { indexedDbStorage } from './storage-indexeddb.js';
export type { IdbFactory, IdbKeyRangeStatic } from './storage-indexeddb.js';
export { Backoff } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export type { ConnectionOptions } from './connection.js';
export type { HeadingReference, HeadingSample, PositionFix, QueuedPoint, TimeInput } from './validate.js';
export type {
  ClientToServerEvents,
  DestinationDto,
  NavigationUpdateDto,
  ServerToClientEvents,
  SessionDto,
  SnapshotDto,
  TrackPointDto,
  WireError,
  ErrorCode,
} from '../contracts/events.js';
export { ERROR_CODES, NAVIGATION_NAMESPACE } from '../contracts/events.js';
export { MAX_BATCH_POINTS } from '../contracts/limits.js';
