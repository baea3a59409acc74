import { Adapter, type BroadcastOptions, type PrivateSessionId, type Room, type Session } from 'socket.io-adapter';
import { NO_ROOMS, PacketStore, type KeptPacket, type PacketRooms } from './packet-store.js';

/** How often expired packets and sessions are dropped. */
export const RECOVERY_EXPIRY_INTERVAL_MS = 1_000;

type PersistedSession = Omit<Session, 'missedPackets'> & { disconnectedAt: number };

type Nsp = ConstructorParameters<typeof Adapter>[0];
type RecipientSocket = { client: { _packet(packets: never, options: { preEncoded: boolean; compress?: boolean }): void } };

/**
 * Socket.IO's in-memory adapter with connection state recovery, over a packet store of its own
 * (socket.io-adapter's `SessionAwareAdapter` keeps its packets in private fields and drops expired
 * ones once a minute: at a few thousand updates a second that is up to 60 s more of them than any
 * client can ask for, hundreds of MB of heap — measured 620 MB at 1,000 navigators).
 *
 * Packets are kept for the recovery window (and at most a second more: they expire in one-second
 * buckets, checked every second), in emission order;
 * a packet's offset is its position in this adapter's stream, so a reconnecting client's offset is
 * found at once instead of by a scan of every stored packet. A kept packet is encoded once, written
 * to its recipients as encoded and stored as those bytes (see {@link PacketStore}); other packets
 * (acknowledged, volatile) go through Socket.IO's own broadcast. Single node only: with REDIS_URL
 * the Redis adapter carries the packets.
 */
export class RecoveryAdapter extends Adapter {
  private readonly sessions = new Map<PrivateSessionId, PersistedSession>();
  private readonly packets = new PacketStore();
  private readonly expiryTimer: NodeJS.Timeout;

  constructor(
    nsp: Nsp,
    private readonly windowMs: number,
    /** The clock packets and sessions are stamped with (tests give their own). */
    private readonly now: () => number = Date.now,
  ) {
    super(nsp);
    this.expiryTimer = setInterval(() => this.dropExpired(this.now() - this.windowMs), RECOVERY_EXPIRY_INTERVAL_MS);
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

  /** Packets kept for recovery. */
  get storedPacketCount(): number {
    return this.packets.count;
  }

  /** Drops the packets emitted before `thresholdMs` (in whole buckets: see PacketStore) and the sessions disconnected before it. */
  dropExpired(thresholdMs: number): void {
    this.packets.dropBefore(thresholdMs);
    for (const [pid, session] of this.sessions) if (session.disconnectedAt < thresholdMs) this.sessions.delete(pid);
  }

  override persistSession(session: Omit<Session, 'missedPackets'>): void {
    this.sessions.set(session.pid, { ...session, disconnectedAt: this.now() });
  }

  override restoreSession(pid: PrivateSessionId, offset: string): Promise<Session> {
    const session = this.sessions.get(pid);
    if (!session || session.disconnectedAt + this.windowMs < this.now()) {
      this.sessions.delete(pid);
      return null as unknown as Promise<Session>; // the session expired (Socket.IO reads null as "not recovered")
    }
    const position = parseInt(offset, 36);
    if (!this.packets.has(position) || position.toString(36) !== offset) {
      return null as unknown as Promise<Session>; // the offset is too old, or not ours
    }
    const missedPackets: unknown[][] = [];
    for (const packet of this.packets.after(position)) {
      if (shouldInclude(session.rooms, packet)) missedPackets.push(typeof packet.encoded === 'string' ? decodeEventData(packet.encoded) : packet.encoded);
    }
    const { disconnectedAt: _, ...restored } = session;
    return Promise.resolve({ ...restored, missedPackets });
  }

  override broadcast(packet: { type: number; id?: number; nsp?: string; data: unknown[] }, opts: BroadcastOptions): void {
    // Event packets without an acknowledgement (it could not be restored) and not volatile are kept;
    // the offset goes at the end of the data, as Socket.IO's own adapter does (clients read it there).
    if (packet.type !== EVENT || packet.id !== undefined || opts.flags?.volatile !== undefined) {
      super.broadcast(packet, opts);
      return;
    }
    const at = this.now();
    packet.data.push(this.packets.nextPosition.toString(36));
    packet.nsp = this.nsp.name;
    // What Socket.IO's broadcast does (encode once, write to each recipient), keeping the encoding.
    // (Its onAnyOutgoing listeners are not called for these packets: the server registers none.)
    const encoded: unknown[] = this.nsp.server.encoder.encode(packet as never);
    const writeOptions = { preEncoded: true, compress: opts.flags?.compress };
    this.forEachRecipient(opts, (socket) => socket.client._packet(encoded as never, writeOptions));
    const asString = encoded.length === 1 && typeof encoded[0] === 'string' && encoded[0].startsWith(String(EVENT));
    this.packets.push(at, compactRooms(opts.rooms), compactRooms(opts.except), asString ? (encoded[0] as string) : packet.data);
  }

  /** The sockets a broadcast goes to: in any of its rooms (none: all), in none of its excluded rooms. */
  private forEachRecipient(opts: BroadcastOptions, each: (socket: RecipientSocket) => void): void {
    const excluded = (id: string) => {
      if (opts.except) for (const room of opts.except) if (this.rooms.get(room)?.has(id)) return true;
      return false;
    };
    const sockets = this.nsp.sockets as Map<string, RecipientSocket>;
    if (opts.rooms.size === 0) {
      for (const [id, socket] of sockets) if (!excluded(id)) each(socket);
      return;
    }
    const seen = opts.rooms.size > 1 ? new Set<string>() : undefined;
    for (const room of opts.rooms) {
      for (const id of this.rooms.get(room) ?? []) {
        if (seen?.has(id) || excluded(id)) continue;
        seen?.add(id);
        const socket = sockets.get(id);
        if (socket) each(socket);
      }
    }
  }

  override close(): Promise<void> | void {
    clearInterval(this.expiryTimer);
    return super.close();
  }
}

/** socket.io-parser's packet type of an event without binary attachments. */
const EVENT = 2;

function compactRooms(rooms: Set<Room> | undefined): PacketRooms {
  if (rooms === undefined || rooms.size === 0) return NO_ROOMS;
  if (rooms.size === 1) for (const room of rooms) return room;
  return [...rooms];
}

function inRooms(room: Room, rooms: PacketRooms): boolean {
  return typeof rooms === 'object' ? rooms.includes(room) : rooms === room;
}

function shouldInclude(sessionRooms: string[], packet: KeptPacket): boolean {
  const included = packet.rooms === NO_ROOMS || sessionRooms.some((room) => inRooms(room, packet.rooms));
  const notExcluded = packet.except === NO_ROOMS || sessionRooms.every((room) => !inRooms(room, packet.except));
  return included && notExcluded;
}

/**
 * The data of an event packet from socket.io-parser's string encoding: the type digit, the
 * namespace followed by a comma unless it is "/", then the data as JSON (a kept packet has no
 * acknowledgement id and no attachments).
 */
export function decodeEventData(encoded: string): unknown[] {
  const start = encoded.charAt(1) === '/' ? encoded.indexOf(',') + 1 : 1;
  return JSON.parse(encoded.slice(start)) as unknown[];
}
