import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { deflateSync } from 'node:zlib';

/**
 * A map tile server of the test's own (no internet here): 256×256 PNG tiles drawn from their
 * coordinates (a paper-coloured ground, a grid, a few "streets"), with a switch that makes every
 * tile fail, and a log of the requests it got.
 */

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** An RGB PNG of `size`×`size` whose pixel colour is `color(x, y)`. */
export function png(size: number, color: (x: number, y: number) => [number, number, number]): Buffer {
  const raw = Buffer.alloc((size * 3 + 1) * size);
  for (let y = 0; y < size; y++) {
    const row = y * (size * 3 + 1);
    raw[row] = 0; // filter: none
    for (let x = 0; x < size; x++) raw.set(color(x, y), row + 1 + x * 3);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** A tile: the ground, a faint grid, and streets every 64 px that stay put across zoom levels' tiles. */
function tile(z: number, x: number, y: number): Buffer {
  const seed = (x * 73_856_093) ^ (y * 19_349_663) ^ (z * 83_492_791);
  return png(256, (px, py) => {
    const street = (px + 3) % 64 < 6 || (py + 3) % 64 < 6;
    const major = (px + 5) % 128 < 10 && ((seed >>> 3) & 1) === 1;
    const park = ((seed >>> 5) & 7) === 0 && px > 140 && py > 140;
    if (major) return [252, 214, 164];
    if (street) return [255, 255, 255];
    if (park) return [200, 235, 190];
    return (px ^ py) % 32 === 0 ? [226, 221, 212] : [242, 239, 233];
  });
}

export interface TileServer {
  /** The MAP_TILE_URL template of this server. */
  readonly template: string;
  readonly origin: string;
  /** The requests served so far (path and headers). */
  readonly requests: { path: string; headers: IncomingHttpHeaders }[];
  /** When true, every tile answers 500. */
  failing: boolean;
  close(): Promise<void>;
}

export async function startTileServer(): Promise<TileServer> {
  const cache = new Map<string, Buffer>();
  const state: TileServer = {
    template: '',
    origin: '',
    requests: [],
    failing: false,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server: Server = createServer((req, res) => {
    state.requests.push({ path: req.url ?? '', headers: req.headers });
    const m = /^\/(\d+)\/(\d+)\/(\d+)\.png$/.exec(req.url ?? '');
    if (!m || state.failing) {
      res.writeHead(m ? 500 : 404).end();
      return;
    }
    const key = m.slice(1).join('/');
    let body = cache.get(key);
    if (!body) cache.set(key, (body = tile(Number(m[1]), Number(m[2]), Number(m[3]))));
    res.writeHead(200, { 'content-type': 'image/png', 'cache-control': 'no-store' }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return Object.assign(state, { origin: `http://127.0.0.1:${port}`, template: `http://127.0.0.1:${port}/{z}/{x}/{y}.png` });
}
