import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The live observer page: `GET /watch/:sessionId` (credentials in the URL fragment `#token=` — it
 * never reaches the server — or `?shareToken=`), its script and style under `/assets/watch/`, and
 * the Socket.IO browser client at `/assets/socket.io.min.js`. Everything is served by this app:
 * the page loads nothing from elsewhere (the CSP enforces it), so it works without internet.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Only this origin: scripts, styles, and the socket (same-origin ws/wss are covered by 'self'). */
const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
}

function socketIoClientDist(): string {
  const pkg = createRequire(import.meta.url).resolve('socket.io-client/package.json');
  return join(dirname(pkg), 'dist');
}

function load(path: string, type: string): Asset {
  return { body: readFileSync(path), type };
}

export function registerObserverPage(http: FastifyInstance): void {
  const dir = join(root, 'public', 'watch');
  const page = load(join(dir, 'index.html'), 'text/html; charset=utf-8');
  const assets: Record<string, Asset> = {
    '/assets/watch/watch.js': load(join(dir, 'watch.js'), 'text/javascript; charset=utf-8'),
    '/assets/watch/watch.css': load(join(dir, 'watch.css'), 'text/css; charset=utf-8'),
    '/assets/socket.io.min.js': load(join(socketIoClientDist(), 'socket.io.min.js'), 'text/javascript; charset=utf-8'),
    '/assets/socket.io.min.js.map': load(join(socketIoClientDist(), 'socket.io.min.js.map'), 'application/json; charset=utf-8'),
  };

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
        .header('content-security-policy', PAGE_CSP)
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
