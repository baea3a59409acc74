import { Adapter, type BroadcastOptions, type PrivateSessionId, type Session } from 'socket.io-adapter';

/** How often expired packets and sessions are dropped. */
export const RECOVERY_EXPIRY_INTERVAL_MS = 1_000;

interface StoredPacket {
  /** The offset the client gets (the base-36 position of the packet in this adapter's stream). */
  id: string;
  opts: BroadcastOptions;
  data: unknown[];
  emittedAt: number;
}

type PersistedSession = Omit<Session, 'missedPackets'> & { disconnectedAt: number };

type Nsp = ConstructorParameters<typeof Adapter>[0];

/**
 * Socket.IO's in-memory adapter with connection state recovery, over a packet store of its own
 * (socket.io-adapter's `SessionAwareAdapter` keeps its packets in private fields and drops expired
 * ones once a minute: at a few thousand updates a second that is up to 60 s more of them than any
 * client can ask for, hundreds of MB of heap — measured 620 MB at 1,000 navigators).
 *
 * Packets are kept for the recovery window only (expired ones go every second), in emission order;
 * a packet's offset is its position in this adapter's stream, so a reconnecting client's offset is
 * found at once instead of by a scan of every stored packet. Single node only: with REDIS_URL the
 * Redis Streams adapter keeps the packets in Redis.
 */
export class RecoveryAdapter extends Adapter {
  private readonly sessions = new Map<PrivateSessionId, PersistedSession>();
  private packets: StoredPacket[] = [];
  /** Stream position of packets[0]. */
  private firstPosition = 0;
  private readonly expiryTimer: NodeJS.Timeout;

  constructor(
    nsp: Nsp,
    private readonly windowMs: number,
  ) {
    super(nsp);
    this.expiryTimer = setInterval(() => this.dropExpired(Date.now() - this.windowMs), RECOVERY_EXPIRY_INTERVAL_MS);
    this.expiryTimer.unref();
  }

  /** An adapter class for Socket.IO's `adapter` option (it constructs the adapter with the namespace only). */
  static withWindow(windowMs: number): new (nsp: Nsp) => RecoveryAdapter {
    return class extends RecoveryAdapter {
      constructor(nsp: Nsp) {
        super(nsp, windowMs);
      }
    };
  }

  /** Packets still kept for recovery (oldest first). */
  get storedPackets(): readonly { emittedAt: number }[] {
    return this.packets;
  }

  /** Drops the packets emitted before `thresholdMs` (they are in emission order) and sessions disconnected before it. */
  dropExpired(thresholdMs: number): void {
    const packets = this.packets;
    let lo = 0;
    let hi = packets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (packets[mid]!.emittedAt < thresholdMs) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) {
      packets.splice(0, lo);
      this.firstPosition += lo;
    }
    for (const [pid, session] of this.sessions) if (session.disconnectedAt < thresholdMs) this.sessions.delete(pid);
  }

  override persistSession(session: Omit<Session, 'missedPackets'>): void {
    this.sessions.set(session.pid, { ...session, disconnectedAt: Date.now() });
  }

  override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session> {
    const session = this.sessions.get(pid);
    if (!session || session.disconnectedAt + this.windowMs < Date.now()) {
      this.sessions.delete(pid);
      return null as unknown as Promise<Session>; // the session expired (Socket.IO reads null as "not recovered")
    }
    const index = parseInt(offset, 36) - this.firstPosition;
    if (!Number.isInteger(index) || index < 0 || index >= this.packets.length || this.packets[index]!.id !== offset) {
      return null as unknown as Promise<Session>; // the offset is too old, or not ours
    }
    const missedPackets: unknown[][] = [];
    for (let i = index + 1; i < this.packets.length; i++) {
      const packet = this.packets[i]!;
      if (shouldInclude(session.rooms, packet.opts)) missedPackets.push(packet.data);
    }
    const { disconnectedAt: _, ...restored } = session;
    return Promise.resolve({ ...restored, missedPackets });
  }

  override broadcast(packet: { type: number; id?: number; data: unknown[] }, opts: BroadcastOptions): void {
    // Event packets without an acknowledgement (it could not be restored) and not volatile are kept;
    // the offset goes at the end of the data, as Socket.IO's own adapter does (clients read it there).
    if (packet.type === 2 && packet.id === undefined && opts.flags?.volatile === undefined) {
      const id = (this.firstPosition + this.packets.length).toString(36);
      packet.data.push(id);
      this.packets.push({ id, opts, data: packet.data, emittedAt: Date.now() });
    }
    super.broadcast(packet, opts);
  }

  override close(): Promise<void> | void {
    clearInterval(this.expiryTimer);
    return super.close();
  }
}

function shouldInclude(sessionRooms: string[], opts: BroadcastOptions): boolean {
  const included = opts.rooms.size === 0 || sessionRooms.some((room) => opts.rooms.has(room));
  const notExcluded = sessionRooms.every((room) => !opts.except?.has(room));
  return included && notExcluded;
}
