import { fastParsers, INBOUND_EVENTS, inboundSchemas, type Ack, type Fail, type InboundEvent, type WireError } from '../contracts/index.js';
import type { Logger } from '../logger.js';
import type { Credentials } from './credentials.js';
import { fail, failureAnswer, validationFailure, WireFailure } from './errors.js';
import type { SocketFlow } from './flow-control.js';
import type { Handler } from './handlers.js';
import { StorageUnavailableError } from './ports.js';
import type { NavSocket } from './rooms.js';

/** Hooks for metrics. */
export interface DispatchHooks {
  received?(event: string): void;
  rejected?(event: string, code: WireError['code']): void;
  handled?(event: string, seconds: number): void;
}

export interface DispatchDeps {
  handlers: { [E in InboundEvent]: Handler<E> };
  credentials: Credentials;
  flow: SocketFlow;
  hooks: DispatchHooks;
  log: Logger;
  isShuttingDown(): boolean;
}

const succeeded = (fields: object): Ack<object> => ({ ok: true, ...fields });

/** VALIDATION_FAILED that is not a zod failure, with one issue so every such answer has `issues`. */
function invalid(message: string): Fail {
  return fail('VALIDATION_FAILED', message, { issues: [{ code: 'custom', path: [], message }] });
}

/** The hot path's hand-written check of a streaming event (null: let zod decide and word the error). */
function fastParse(event: InboundEvent, payload: unknown): Record<string, unknown> | null {
  const parse = (fastParsers as Partial<Record<InboundEvent, (data: unknown) => unknown>>)[event];
  return parse ? (parse(payload) as Record<string, unknown> | null) : null;
}

type AckFn = (answer: Ack<object>) => void;
const takeAck = (args: unknown[]): AckFn | undefined => (typeof args.at(-1) === 'function' ? (args.pop() as AckFn) : undefined);

/** Session and destination ids are keyed as strings: PostgreSQL's canonical (lower-case) form, or one session would have two rooms. */
function canonicalIds(data: Record<string, unknown>): void {
  for (const key of ['sessionId', 'destinationId']) if (typeof data[key] === 'string') data[key] = data[key].toLowerCase();
}

/**
 * Binds a socket's events to the handler table, through one pipeline: credentials still valid →
 * message rate → not shutting down → load shedding → one payload → points budget → zod validation
 * → handler → error mapping → the acknowledgement (or `navigation:error` when the client sent
 * none). Nothing a client sends makes a handler throw out of it.
 */
export function bindEvents(socket: NavSocket, deps: DispatchDeps): void {
  const { hooks, flow } = deps;

  /** The answer to one message: at once when every step is synchronous (a resident session), else a promise. */
  function answer(event: InboundEvent, args: unknown[], acked: boolean): Ack<object> | Promise<Ack<object>> {
    const refused = deps.credentials.refusal(socket) ?? flow.admit();
    if (refused) return refused;
    if (deps.isShuttingDown()) return fail('UNAVAILABLE', 'server is shutting down: reconnect and resume');
    const shed = flow.admitLoad(event);
    if (shed) return shed;
    if (args.length !== 1) return invalid(`expected one payload argument, got ${args.length}`);
    const overBudget = flow.admitPoints(event, args[0]);
    if (overBudget) return overBudget;
    let data = fastParse(event, args[0]);
    if (data === null) {
      const parsed = inboundSchemas[event].safeParse(args[0]);
      if (!parsed.success) return failureAnswer(validationFailure(parsed.error));
      data = parsed.data;
    }
    flow.charge(event, data);
    canonicalIds(data);
    let out: object | Promise<object>;
    try {
      out = (deps.handlers[event] as Handler)(socket, data as never, acked);
    } catch (err) {
      return failed(err, event);
    }
    if (out instanceof Promise) return out.then(succeeded, (err: unknown) => failed(err, event));
    return succeeded(out);
  }

  function failed(err: unknown, event: InboundEvent): Fail {
    if (err instanceof WireFailure) return failureAnswer(err);
    if (err instanceof StorageUnavailableError) return fail('UNAVAILABLE', 'storage is unavailable: retry later');
    deps.log.error({ err, event }, 'handler failed');
    return fail('INTERNAL', 'internal error');
  }

  function respond(event: InboundEvent, ack: AckFn | undefined, startedMs: number, result: Ack<object>): void {
    if (!result.ok) hooks.rejected?.(event, result.error.code);
    if (ack) ack(result);
    else if (!result.ok) socket.emit('navigation:error', result.error);
    hooks.handled?.(event, (performance.now() - startedMs) / 1000);
  }

  for (const event of INBOUND_EVENTS) {
    socket.on(event, (...args: unknown[]) => {
      const started = performance.now();
      const ack = takeAck(args);
      hooks.received?.(event);
      const result = answer(event, args, ack !== undefined);
      if (result instanceof Promise) void result.then((r) => respond(event, ack, started, r));
      else respond(event, ack, started, result);
    });
  }

  // Unknown events: answered like any other (through the ack when there is one, which would
  // otherwise wait forever), and counted by the rate limit so a flood of them is throttled too.
  socket.onAny((event: string, ...args: unknown[]) => {
    if ((INBOUND_EVENTS as string[]).includes(event)) return;
    const ack = typeof args.at(-1) === 'function' ? (args.at(-1) as AckFn) : undefined;
    const result = flow.admit() ?? invalid(`unknown event: ${String(event).slice(0, 64)}`);
    hooks.rejected?.(String(event), result.error.code);
    if (ack) ack(result);
    else socket.emit('navigation:error', result.error);
  });
}
