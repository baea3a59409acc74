import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The live observer page: `GET /watch/:sessionId` (credentials in the URL fragment `#token=` — it
 * never reaches the server — or `?shareToken=`), its script and style under `/assets/watch/`,
 * Leaflet under `/assets/leaflet/` (from node_modules) and the client library at
 * `/client/arway-client.js` (./client-build.ts), which the page runs on. Every script and style
 * comes from this app (the CSP enforces it); the only other origin is the map tiles' (MAP_TILE_URL),
 * for images only, and with MAP_TILE_URL=none the page loads nothing from elsewhere.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The map of the watch page (config MAP_TILE_*); `tileUrl` null: the drawn view only. */
export interface WatchMapOptions {
  tileUrl: string | null;
  attribution: string;
  maxZoom: number;
}

/**
 * The CSP source of a tile URL template's origin, for `img-src`: `https://tile.example.com`,
 * `https://*.tile.example.com` for `{s}` subdomains; null for a path on this server ('self').
 */
export function tileOrigin(template: string): string | null {
  if (template.startsWith('/') && !template.startsWith('//')) return null;
  const m = /^(https?:\/\/)([^/?#]*)/.exec(template);
  if (!m) return null;
  return m[1]! + m[2]!.replace(/^\{s\}\./, '*.');
}

/** Only this origin for scripts, styles and the socket (same-origin ws/wss are covered by 'self'); images also from the tiles' origin. */
export function pageCsp(map: WatchMapOptions): string {
  const tiles = map.tileUrl ? tileOrigin(map.tileUrl) : null;
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    `img-src 'self' data:${tiles ? ' ' + tiles : ''}`,
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

/** The page with its map settings (a JSON data block: not a script, so the CSP allows it) and Leaflet only when there are tiles. */
function renderPage(template: string, map: WatchMapOptions): string {
  const json = JSON.stringify({ map }).replace(/</g, '\\u003c');
  const leaflet = map.tileUrl
    ? '<link rel="stylesheet" href="/assets/leaflet/leaflet.css" />\n    <script src="/assets/leaflet/leaflet.js" defer></script>\n    '
    : '';
  return template
    .replace('<!--watch-config-->', `<script type="application/json" id="watch-config">${json}</script>`)
    .replace('<!--leaflet-->', leaflet);
}

interface Asset {
  body: Buffer;
  type: string;
}

const require = createRequire(import.meta.url);
const distOf = (pkg: string) => join(dirname(require.resolve(`${pkg}/package.json`)), 'dist');

function load(path: string, type: string): Asset {
  return { body: readFileSync(path), type };
}

export function registerObserverPage(http: FastifyInstance, map: WatchMapOptions): void {
  const dir = join(root, 'public', 'watch');
  const page: Asset = { body: Buffer.from(renderPage(readFileSync(join(dir, 'index.html'), 'utf8'), map)), type: 'text/html; charset=utf-8' };
  const csp = pageCsp(map);
  const socketIo = distOf('socket.io-client');
  const leaflet = distOf('leaflet');
  const js = 'text/javascript; charset=utf-8';
  const assets: Record<string, Asset> = {
    '/assets/watch/watch.js': load(join(dir, 'watch.js'), js),
    '/assets/watch/watch.css': load(join(dir, 'watch.css'), 'text/css; charset=utf-8'),
    // Socket.IO's own browser build, for pages that do not use the client library.
    '/assets/socket.io.min.js': load(join(socketIo, 'socket.io.min.js'), js),
    '/assets/socket.io.min.js.map': load(join(socketIo, 'socket.io.min.js.map'), 'application/json; charset=utf-8'),
    '/assets/leaflet/leaflet.js': load(join(leaflet, 'leaflet.js'), js),
    '/assets/leaflet/leaflet.js.map': load(join(leaflet, 'leaflet.js.map'), 'application/json; charset=utf-8'),
    '/assets/leaflet/leaflet.css': load(join(leaflet, 'leaflet.css'), 'text/css; charset=utf-8'),
  };
  for (const image of readdirSync(join(leaflet, 'images'))) {
    if (image.endsWith('.png')) assets[`/assets/leaflet/images/${image}`] = load(join(leaflet, 'images', image), 'image/png');
  }

  const send = (reply: FastifyReply, asset: Asset, cache: string) =>
    reply
      .header('content-type', asset.type)
      .header('cache-control', cache)
      .header('x-content-type-options', 'nosniff')
      .send(asset.body);

  http.get<{ Params: { sessionId: string } }>('/watch/:sessionId', (request, reply) => {
    if (!UUID_RE.test(request.params.sessionId)) {
      return reply.code(404).type('text/plain; charset=utf-8').send('No such navigation session link.\n');
    }
    return send(
      reply
        .header('content-security-policy', csp)
        // ?shareToken= must not leak to other sites through the Referer header.
        .header('referrer-policy', 'no-referrer')
        .header('x-frame-options', 'DENY'),
      page,
      'no-store',
    );
  });
  for (const [path, asset] of Object.entries(assets)) {
    http.get(path, (_request, reply) => send(reply, asset, 'public, max-age=300'));
  }
}
