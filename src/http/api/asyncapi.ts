import { z } from 'zod';
import { ERROR_CODES, INBOUND_EVENTS, inboundSchemas, NAVIGATION_NAMESPACE, type InboundEvent } from '../../contracts/index.js';
import { ackFailureSchema, ackSchemas, serverEventSchemas } from '../../contracts/outbound.js';
import { SchemaCollector } from './json-schema.js';

/** Component keys may not contain ':' → `session:start` becomes `session.start`. */
const key = (event: string) => event.replaceAll(':', '.');

const INBOUND_DOCS: Record<InboundEvent, string> = {
  'session:start': 'Start navigating to an active destination. The socket joins the session’s room as its navigator; the ack carries the share token for observers.',
  'session:resume': 'Resume one’s own active session after a reconnect; the ack tells `durableSeq` (resend every point above it).',
  position: 'One GPS fix. `seq` strictly increases within a session; a seq already accepted answers `{ ok, duplicate: true, durableSeq }` and stores nothing.',
  'position:batch': 'Up to 500 fixes in ascending seq (offline upload).',
  heading: 'A compass heading (true unless `reference` is `magnetic`, then converted with WMM2025 declination).',
  'session:end': 'End one’s own session as completed or cancelled.',
  'session:observe': 'Observe a session (its owner, or a share-token connection for its session); the ack carries a snapshot.',
  'session:unobserve': 'Stop observing.',
};

const OUTBOUND_DOCS: Record<keyof typeof serverEventSchemas, string> = {
  'navigation:update': 'To the session’s room: the navigation computed for the latest fix (or a new heading).',
  'navigation:durable': 'To the navigator: `durableSeq` advanced (every accepted seq up to it is committed to PostgreSQL).',
  'navigation:arrived': 'To the room: the walker arrived.',
  'session:ended': 'To the room: the session ended.',
  'session:observers': 'To the room: the observer count changed.',
  'navigation:error': 'To one socket: the error of an event sent without an acknowledgement callback.',
  'server:shutdown': 'Extension: the server is shutting down; reconnect (possibly to another instance) and resume.',
};

/**
 * The AsyncAPI 3.0 document of the Socket.IO protocol (docs/protocol.md), generated from the zod schemas of
 * src/contracts: inbound payloads (as accepted: `io: input`), acknowledgements and server events.
 * Payloads are JSON Schema draft-07 (AsyncAPI's default schema format is a superset of it).
 */
export function buildAsyncApi(): Record<string, unknown> {
  const schemas = new SchemaCollector('draft-07');
  const channelMessages: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const channelRef = { $ref: '#/channels/navigation' };
  const failure = schemas.convert(ackFailureSchema, 'output');

  for (const event of INBOUND_EVENTS) {
    const k = key(event);
    messages[k] = {
      name: event,
      title: event,
      summary: INBOUND_DOCS[event],
      payload: schemas.convert(inboundSchemas[event], 'input'),
    };
    messages[`${k}.ack`] = {
      name: `${event} ack`,
      title: `${event} acknowledgement`,
      summary: 'The acknowledgement callback’s argument: `{ ok: true, … }` or `{ ok: false, error }`.',
      payload: { oneOf: [schemas.convert(ackSchemas[event] as z.ZodType, 'output'), failure] },
    };
    channelMessages[k] = { $ref: `#/components/messages/${k}` };
    channelMessages[`${k}.ack`] = { $ref: `#/components/messages/${k}.ack` };
    operations[k] = {
      action: 'receive',
      channel: channelRef,
      title: event,
      summary: INBOUND_DOCS[event],
      description: 'Client → server. Emit with an acknowledgement callback (Socket.IO `emitWithAck`).',
      messages: [{ $ref: `#/channels/navigation/messages/${k}` }],
      reply: { channel: channelRef, messages: [{ $ref: `#/channels/navigation/messages/${k}.ack` }] },
    };
  }
  for (const [event, schema] of Object.entries(serverEventSchemas) as [keyof typeof serverEventSchemas, z.ZodType][]) {
    const k = key(event);
    messages[k] = { name: event, title: event, summary: OUTBOUND_DOCS[event], payload: schemas.convert(schema, 'output') };
    channelMessages[k] = { $ref: `#/components/messages/${k}` };
    operations[k] = {
      action: 'send',
      channel: channelRef,
      title: event,
      summary: OUTBOUND_DOCS[event],
      messages: [{ $ref: `#/channels/navigation/messages/${k}` }],
    };
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'ARWay realtime navigation protocol',
      version: '1.0.0',
      description:
        `Socket.IO v4, namespace \`${NAVIGATION_NAMESPACE}\` (websocket transport). Units: metres, seconds, degrees; ` +
        'WGS84 decimal degrees; distance is the WGS84 geodesic (Karney), bearing the initial azimuth from true north. ' +
        'Connect with `io(BASE_URL + "/navigation", { auth: { token } })` (a user JWT) or `{ auth: { shareToken } }` ' +
        '(an observer of one session); otherwise `connect_error` with message `UNAUTHORIZED`. Every client→server ' +
        'event takes an acknowledgement callback answering `{ ok: true, … }` or `{ ok: false, error: { code, message, ' +
        `issues? } }\`. Error codes: ${ERROR_CODES.join(', ')}. Unknown fields are rejected, numbers must be finite, ` +
        'strings are bounded. With connection state recovery on, Socket.IO appends a string (the recovery offset) ' +
        'as an extra last argument to every server event: take the payload from the first argument and accept more. ' +
        'The full contract, with units, bounds, durability and flow control: docs/protocol.md in the repository.',
    },
    defaultContentType: 'application/json',
    servers: {
      arway: {
        host: 'localhost:3000',
        protocol: 'ws',
        pathname: '/socket.io/',
        description: 'The ARWay server (Socket.IO over WebSocket; the host is wherever the server listens).',
        security: [{ $ref: '#/components/securitySchemes/userToken' }, { $ref: '#/components/securitySchemes/shareToken' }],
      },
    },
    channels: {
      navigation: {
        address: NAVIGATION_NAMESPACE,
        title: 'Navigation namespace',
        description: 'The Socket.IO namespace; rooms per session carry updates to its navigator and observers.',
        messages: channelMessages,
      },
    },
    operations,
    components: {
      schemas: schemas.components,
      messages,
      securitySchemes: {
        userToken: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'A user JWT sent as `auth.token` in the Socket.IO handshake.',
        },
        shareToken: {
          type: 'httpApiKey',
          name: 'shareToken',
          in: 'query',
          description: 'A session share token sent as `auth.shareToken` in the Socket.IO handshake (observe only).',
        },
      },
    },
  };
}
