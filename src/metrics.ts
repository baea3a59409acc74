import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { INBOUND_EVENTS } from './contracts/index.js';
import type { FlushStats } from './persistence/write-behind.js';
import type { RealtimeHooks } from './realtime/socket-server.js';

/**
 * Prometheus metrics of one app instance (its own registry, so several apps in one process — the
 * tests — do not collide). Fed by the realtime layer's hooks, the write-behind buffer's flush
 * listener and Fastify's onResponse hook; gauges of live state are read when scraped.
 */

/** Live state read at scrape time. */
export interface MetricsSources {
  /** Points queued or being written (not yet durable). */
  bufferedPoints(): number;
  /** Sessions with in-memory navigation state. */
  activeRuntimes(): number;
  /** The share of writing messages load shedding admits, (0, 1]. */
  admittedShare(): number;
  /** With REDIS_URL: 1 while Redis is reachable, 0 while not; null (no series) on a single node. */
  redisUp?(): number | null;
}

const KNOWN_EVENTS = new Set<string>(INBOUND_EVENTS);
/** Unknown event names come from clients: one label value for all, so they cannot blow up cardinality. */
const eventLabel = (event: string) => (KNOWN_EVENTS.has(event) ? event : 'unknown');

export class Metrics {
  readonly registry = new Registry();
  private sources: MetricsSources | undefined;
  /** When the last flush committed (ms since epoch), for the durable lag. */
  private lastCommitMs = Date.now();

  private readonly socketsConnected = new Gauge({
    name: 'arway_sockets_connected',
    help: 'Connected /navigation sockets by kind (user: JWT navigator/observer, share: share-token observer)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly socketConnections = new Counter({
    name: 'arway_socket_connections_total',
    help: 'Accepted /navigation connections by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly eventsReceived = new Counter({
    name: 'arway_socket_events_received_total',
    help: 'Client→server events received, by event',
    labelNames: ['event'] as const,
    registers: [this.registry],
  });
  private readonly rejections = new Counter({
    name: 'arway_socket_rejections_total',
    help: 'Client→server events answered with an error, by event and error code',
    labelNames: ['event', 'code'] as const,
    registers: [this.registry],
  });
  private readonly throttles = new Counter({
    name: 'arway_socket_throttles_total',
    help: 'Times a socket over its rate limit stopped being read until it could be served again',
    registers: [this.registry],
  });
  private readonly shed = new Counter({
    name: 'arway_overload_shed_total',
    help: 'Writing messages (positions, batches, headings) answered UNAVAILABLE because the server was overloaded or storage behind (load shedding)',
    registers: [this.registry],
  });
  private readonly handlerDuration = new Histogram({
    name: 'arway_socket_handler_duration_seconds',
    help: 'Time from receiving an event to its acknowledgement (validation, navigation, enqueue): the update latency',
    labelNames: ['event'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private readonly flushBatch = new Histogram({
    name: 'arway_flush_batch_points',
    help: 'Points committed per write-behind flush (one transaction)',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2000, 5000, 10000],
    registers: [this.registry],
  });
  private readonly flushDuration = new Histogram({
    name: 'arway_flush_duration_seconds',
    help: 'Duration of a successful write-behind flush (one transaction)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly httpRequests = new Counter({
    name: 'arway_http_requests_total',
    help: 'HTTP requests by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly httpDuration = new Histogram({
    name: 'arway_http_request_duration_seconds',
    help: 'HTTP response time (until the response is sent; streamed exports until their end) by method and route pattern',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  private readonly pruned = new Counter({
    name: 'arway_retention_deleted_rows_total',
    help: 'Rows deleted by retention (RETENTION_DAYS) and account deletion, by table',
    labelNames: ['table'] as const,
    registers: [this.registry],
  });
  private readonly pruneRuns = new Counter({
    name: 'arway_retention_runs_total',
    help: 'Background retention runs by outcome (ran: this instance pruned; skipped: another held the lock; failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const buffered: Gauge = new Gauge({
      name: 'arway_buffered_points',
      help: 'Points accepted but not yet committed to PostgreSQL (queued or being written)',
      registers: [this.registry],
      collect: () => {
        buffered.set(this.sources?.bufferedPoints() ?? 0);
      },
    });
    const lag: Gauge = new Gauge({
      name: 'arway_durable_lag_seconds',
      help:
        'While points are buffered: seconds since the last successful flush (how long accepted points have waited ' +
        'without progress towards durability; grows during a database outage); 0 when nothing is buffered',
      registers: [this.registry],
      collect: () => {
        const points = this.sources?.bufferedPoints() ?? 0;
        lag.set(points > 0 ? Math.max(0, (Date.now() - this.lastCommitMs) / 1000) : 0);
      },
    });
    const admitted: Gauge = new Gauge({
      name: 'arway_overload_admitted_ratio',
      help: 'Share of writing messages taken on by load shedding (1: no overload)',
      registers: [this.registry],
      collect: () => {
        admitted.set(this.sources?.admittedShare() ?? 1);
      },
    });
    const redisUp: Gauge = new Gauge({
      name: 'arway_redis_up',
      help: 'With REDIS_URL: 1 while the Redis connections of the cluster adapter are up, 0 while Redis is unreachable (broadcasts then reach only this instance\'s sockets)',
      registers: [this.registry],
      collect: () => {
        const up = this.sources?.redisUp?.() ?? null;
        if (up === null) redisUp.reset();
        else redisUp.set(up);
      },
    });
    const runtimes: Gauge = new Gauge({
      name: 'arway_active_session_runtimes',
      help: 'Sessions with in-memory navigation state on this instance',
      registers: [this.registry],
      collect: () => {
        runtimes.set(this.sources?.activeRuntimes() ?? 0);
      },
    });
  }

  /**
   * The per-event series, bound once per event label: every message counts and times itself, and
   * binding (prom-client's `labels()`) spares the label hashing of each call on that hot path.
   */
  private readonly perEvent = new Map<string, { received: { inc(): void }; handled: { observe(v: number): void } }>();
  private eventSeries(event: string) {
    const label = eventLabel(event);
    let series = this.perEvent.get(label);
    if (!series) {
      series = { received: this.eventsReceived.labels(label), handled: this.handlerDuration.labels(label) };
      this.perEvent.set(label, series);
    }
    return series;
  }

  /** Hooks for attachRealtime. */
  readonly realtimeHooks: RealtimeHooks = {
    connected: (kind) => {
      this.socketsConnected.inc({ kind });
      this.socketConnections.inc({ kind });
    },
    disconnected: (kind) => this.socketsConnected.dec({ kind }),
    received: (event) => this.eventSeries(event).received.inc(),
    rejected: (event, code) => this.rejections.inc({ event: eventLabel(event), code }),
    handled: (event, seconds) => this.eventSeries(event).handled.observe(seconds),
    throttled: () => this.throttles.inc(),
    shed: () => this.shed.inc(),
  };

  /** Listener for the write-behind buffer's onFlush. */
  readonly flushed = (stats: FlushStats): void => {
    this.lastCommitMs = Date.now();
    this.flushBatch.observe(stats.batchPoints);
    this.flushDuration.observe(stats.durationMs / 1000);
  };

  /** Rows deleted by retention or an account deletion. */
  readonly deleted = (counts: { sessions: number; points: number; events: number; feedback: number }): void => {
    this.pruned.inc({ table: 'navigation_sessions' }, counts.sessions);
    this.pruned.inc({ table: 'navigation_points' }, counts.points);
    this.pruned.inc({ table: 'analytics_events' }, counts.events);
    this.pruned.inc({ table: 'feedback' }, counts.feedback);
  };

  /** A background retention run ended (null: it failed). */
  readonly retentionRun = (report: { ran: boolean } | null): void => {
    this.pruneRuns.inc({ outcome: report === null ? 'failed' : report.ran ? 'ran' : 'skipped' });
  };

  /** Where the scrape-time gauges read from (set once the store and realtime layer exist). */
  observe(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** `GET /metrics` (Prometheus text format) and per-request HTTP metrics. */
  register(http: FastifyInstance): void {
    http.addHook('onResponse', async (request, reply) => {
      const route = request.routeOptions.url ?? 'unmatched';
      if (route === '/metrics') return;
      this.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
      this.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
    });
    http.get('/metrics', async (_request, reply) =>
      reply.type(this.registry.contentType).header('cache-control', 'no-store').send(await this.registry.metrics()),
    );
  }
}

export function createMetrics(): Metrics {
  return new Metrics();
}
