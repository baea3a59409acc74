/**
 * The durable lag at the load generator (bench/load.ts): for every acknowledged position, the time
 * from its ack to the `navigation:durable` that covers it, overall and per load phase, and the wait
 * until every navigator's acknowledged positions are durable.
 */
import { Histogram } from './histogram.js';

/** What the tracker reads and updates of a navigator. */
export interface DurableNav {
  /** Ack time of each acknowledged position by seq (performance.now()). */
  ackTimes: number[];
  durableSeq: number;
  /** Next seq whose lag is still to be recorded. */
  durablePtr: number;
  /** First seq sent in each phase (index = phase number), to attribute durable lag to its phase. */
  phaseFirstSeq: number[];
  lastAckedSeq: number;
}

export class DurableLag {
  private readonly all = new Histogram();
  /** Durable lag per phase (same order as DurableNav.phaseFirstSeq). */
  private readonly byPhase: { name: string; lag: Histogram }[] = [];
  private lastMs = 0;

  /** A phase starts (the caller pushes each navigator's first seq of it onto phaseFirstSeq). */
  startPhase(name: string): void {
    this.byPhase.push({ name, lag: new Histogram() });
  }

  /** `navigation:durable` of `nav` up to `durableSeq`: records the lag of each newly covered ack. */
  onDurable(nav: DurableNav, durableSeq: number): void {
    const now = performance.now();
    let p = 0;
    for (let s = nav.durablePtr; s <= durableSeq; s++) {
      const ackedAt = nav.ackTimes[s];
      if (ackedAt === undefined) continue;
      const lag = Math.max(0, now - ackedAt);
      this.all.record(lag);
      while (p + 1 < nav.phaseFirstSeq.length && nav.phaseFirstSeq[p + 1]! <= s) p++;
      this.byPhase[p]?.lag.record(lag);
    }
    if (durableSeq + 1 > nav.durablePtr) nav.durablePtr = durableSeq + 1;
    if (durableSeq > nav.durableSeq) nav.durableSeq = durableSeq;
    this.lastMs = now;
  }

  /** Waits until every navigator's durableSeq covers its last acknowledged seq (or `timeoutMs`). */
  async awaitDurable(navs: DurableNav[], timeoutMs: number) {
    const deadline = performance.now() + timeoutMs;
    const pending = () => navs.filter((n) => n.lastAckedSeq >= 0 && n.durableSeq < n.lastAckedSeq);
    while (pending().length > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    const left = pending();
    return {
      pendingSessions: left.length,
      pendingPoints: left.reduce((n, nav) => n + (nav.lastAckedSeq - nav.durableSeq), 0),
      lag: this.all.toJSON(),
      lagByPhase: Object.fromEntries(this.byPhase.map((d) => [d.name, d.lag.toJSON()])),
      lastMs: this.lastMs,
    };
  }
}
