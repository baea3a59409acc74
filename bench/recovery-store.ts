/**
 * `node --expose-gc --import tsx bench/recovery-store.ts [CHECKOUT]`: what connection state recovery
 * costs per broadcast, in-process: the memory each kept packet holds, in the heap and outside it (after a full GC) and the CPU of
 * one `navigation:update` broadcast to a session's room (except the navigator's socket), through
 * the RecoveryAdapter of CHECKOUT (default: this one; another checkout's path gives the A/B).
 * 150,000 packets: 30 s of the recovery window at 5,000 broadcasts/s. No sockets are connected, so
 * the writes themselves are not in the figure.
 */
import { createServer } from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Server } from 'socket.io';

const PACKETS = 150_000;
const SESSIONS = 1_000;
const RATE_PER_S = 5_000;

const checkout = path.resolve(process.argv[2] ?? '.');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc --import tsx bench/recovery-store.ts');
const { RecoveryAdapter } = (await import(pathToFileURL(path.join(checkout, 'src/realtime/recovery-adapter.ts')).href)) as {
  RecoveryAdapter: new (nsp: unknown, windowMs: number, now?: () => number) => object;
};
// The broadcasts are stamped as if 5,000 a second (the adapter's clock; adapters before 2026-12-07
// took none and kept every packet as it came).
const clock = { ms: Date.now() };
const Adapter = class extends RecoveryAdapter {
  constructor(nsp: unknown) {
    super(nsp, 3_600_000, () => clock.ms);
  }
};
const io = new Server(createServer(), { adapter: Adapter as never, connectionStateRecovery: {} });
const nsp = io.of('/navigation');
const rooms = Array.from({ length: SESSIONS }, (_, i) => `session:${i}`);
const update = (i: number) => ({
  sessionId: `0b7c2f1e-8d7a-4b7e-9f1a-${String(i % SESSIONS).padStart(12, '0')}`,
  seq: i,
  lat: 48.1 + i * 1e-6,
  lon: 11.5 + i * 1e-6,
  accuracy: 5,
  heading: 123.4 + (i % 7),
  distance: 1234.5678 + i,
  bearing: 45.678 + i * 1e-3,
  relativeAngle: -77.7,
  speed: 1.4,
  etaSeconds: 880.2,
  traveled: 12.3 + i,
  arrived: false,
  durableSeq: i - 3,
  recordedAt: new Date(1.8e12 + i).toISOString(),
});

gc();
const before = process.memoryUsage();
const cpuBefore = process.cpuUsage();
for (let i = 0; i < PACKETS; i++) {
  clock.ms += 1000 / RATE_PER_S;
  nsp.to(rooms[i % SESSIONS]!).except(`socket-${i % SESSIONS}`).emit('navigation:update', update(i));
}
const cpu = process.cpuUsage(cpuBefore);
gc();
const after = process.memoryUsage();
const adapter = nsp.adapter as unknown as { storedPacketCount?: number; storedPackets?: readonly unknown[] };
const stored = adapter.storedPacketCount ?? adapter.storedPackets?.length; // (before 2026-12-07: storedPackets)
console.log(
  `${checkout}: ${stored} packets kept, each ${((after.heapUsed - before.heapUsed) / PACKETS).toFixed(0)} B of heap and ${((after.external - before.external) / PACKETS).toFixed(0)} B outside it, ${((cpu.user + cpu.system) / PACKETS).toFixed(2)} µs of CPU per broadcast`,
);
await new Promise<void>((resolve) => io.close(() => resolve()));
