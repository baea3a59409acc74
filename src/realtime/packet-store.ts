import type { Room } from 'socket.io-adapter';

/** A bucket holds the packets of this long a stretch of time; the store drops whole buckets. */
export const PACKET_BUCKET_MS = 1_000;

/** The rooms a packet went to: one room (the common case, no array), several, or none (everyone). */
export type PacketRooms = Room | readonly Room[];

export const NO_ROOMS: readonly Room[] = [];

/** A kept packet as the store gives it back. */
export interface KeptPacket {
  rooms: PacketRooms;
  except: PacketRooms;
  /** The encoded packet, or its data when it was kept unencoded. */
  encoded: string | unknown[];
}

/**
 * The packets of one stretch of time: their encodings back to back in one buffer (outside the JS
 * heap, no object per packet), where each ends, and the rooms each went to (references to strings
 * the adapter holds anyway).
 */
class Bucket {
  bytes: Buffer;
  used = 0;
  readonly ends: number[] = [];
  readonly rooms: PacketRooms[] = [];
  readonly except: PacketRooms[] = [];
  /** Packets kept unencoded (binary attachments), by index. */
  unencoded: Map<number, unknown[]> | undefined;
  lastAt: number;

  constructor(
    readonly firstPosition: number,
    readonly startedAt: number,
    capacityBytes: number,
  ) {
    this.bytes = Buffer.allocUnsafe(capacityBytes);
    this.lastAt = startedAt;
  }

  get count(): number {
    return this.ends.length;
  }

  add(at: number, rooms: PacketRooms, except: PacketRooms, encoded: string | unknown[]): void {
    if (typeof encoded === 'string') {
      const most = encoded.length * 3; // UTF-8 bytes of a UTF-16 string, at most
      if (this.used + most > this.bytes.length) {
        const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + most));
        this.bytes.copy(grown, 0, 0, this.used);
        this.bytes = grown;
      }
      this.used += this.bytes.write(encoded, this.used);
    } else {
      (this.unencoded ??= new Map()).set(this.ends.length, encoded);
    }
    this.ends.push(this.used);
    this.rooms.push(rooms);
    this.except.push(except);
    this.lastAt = at;
  }

  /** The bucket is full: its buffer shrinks to the bytes used (the next bucket is sized from them). */
  seal(): void {
    if (this.used === this.bytes.length) return;
    const exact = Buffer.allocUnsafe(this.used);
    this.bytes.copy(exact, 0, 0, this.used);
    this.bytes = exact;
  }

  get(index: number): KeptPacket {
    const encoded = this.unencoded?.get(index) ?? this.bytes.toString('utf8', index === 0 ? 0 : this.ends[index - 1], this.ends[index]);
    return { rooms: this.rooms[index]!, except: this.except[index]!, encoded };
  }
}

/**
 * The packets kept for connection state recovery, in emission order, each at its position in the
 * stream (0, 1, 2…: the offset a client gets is derived from it). At thousands of broadcasts a
 * second, 30 s of them are hundreds of thousands of packets: kept as objects (a packet's data, its
 * numbers, the broadcast options' Sets) they were ~20 objects and 1.2 KB of old-generation heap
 * each; here a packet costs its encoded bytes outside the heap and three array slots in it.
 * Expiry drops whole buckets of PACKET_BUCKET_MS: a packet may outlive its window by that much.
 */
export class PacketStore {
  private buckets: Bucket[] = [];
  private position = 0;
  /** Bytes the last full bucket used: the next one starts that big (no growing in the steady state). */
  private lastBucketBytes = 64 * 1024;

  /** The stream position the next packet gets. */
  get nextPosition(): number {
    return this.position;
  }

  /** Packets kept. */
  get count(): number {
    return this.nextPosition - this.firstPosition;
  }

  /** Stream position of the oldest packet kept (= the next position when none is). */
  get firstPosition(): number {
    return this.buckets[0]?.firstPosition ?? this.position;
  }

  /** Keeps a packet emitted at `at` (ms, not before the previous one); returns its stream position. */
  push(at: number, rooms: PacketRooms, except: PacketRooms, encoded: string | unknown[]): number {
    let bucket = this.buckets[this.buckets.length - 1];
    if (!bucket || at - bucket.startedAt >= PACKET_BUCKET_MS) {
      if (bucket) {
        this.lastBucketBytes = Math.max(4096, bucket.used);
        bucket.seal();
      }
      bucket = new Bucket(this.position, at, Math.ceil(this.lastBucketBytes * 1.25));
      this.buckets.push(bucket);
    }
    bucket.add(at, rooms, except, encoded);
    return this.position++;
  }

  /** Drops every bucket whose packets were all emitted before `thresholdMs`. */
  dropBefore(thresholdMs: number): void {
    let n = 0;
    while (n < this.buckets.length && this.buckets[n]!.lastAt < thresholdMs) n++;
    if (n > 0) this.buckets = this.buckets.slice(n);
  }

  /** Whether `position` is kept. */
  has(position: number): boolean {
    return Number.isInteger(position) && position >= this.firstPosition && position < this.position;
  }

  /** The packets kept after `position`, oldest first. */
  *after(position: number): Generator<KeptPacket> {
    for (const bucket of this.buckets) {
      const from = Math.max(0, position + 1 - bucket.firstPosition);
      for (let i = from; i < bucket.count; i++) yield bucket.get(i);
    }
  }
}
