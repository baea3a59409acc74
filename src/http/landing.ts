import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/**
 * `GET /`: a small self-contained page (no scripts, nothing loaded from elsewhere) saying what this
 * server is and where to go: the API documentation, the machine-readable documents, health,
 * metrics, the form of a watch link, and the documentation in the repository.
 */

const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
  return typeof pkg.version === 'string' ? pkg.version : 'unknown';
}

export function renderLandingPage(version: string): string {
  const link = (href: string, what: string) => `<li><a href="${href}"><code>${href}</code></a> — ${what}</li>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>ARWay server</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:760px;margin:0 auto;padding:1rem 1.5rem;color:#1b1f24}
code{background:#f3f4f6;padding:0 .2rem;border-radius:3px;font-size:.9em}li{margin:.2rem 0}
</style></head><body>
<h1>ARWay server <small>v${version}</small></h1>
<p>The real-time server of ARWay, an AR walking-navigation app: clients stream GPS fixes and compass headings over
Socket.IO (namespace <code>/navigation</code>) and get the WGS84 distance, bearing and angle to turn back; observers
follow a walk live through a share link; every point is stored in PostgreSQL.</p>
<h2>Documentation</h2>
<ul>
${link('/docs', 'the REST API and the socket events, generated from the contracts')}
${link('/docs/openapi.json', 'OpenAPI 3.1 document of the REST API')}
${link('/docs/asyncapi.json', 'AsyncAPI 3.0 document of the Socket.IO protocol')}
</ul>
<p>In the repository: <code>README.md</code> (start here), <code>docs/protocol.md</code> (the wire contract),
<code>docs/client.md</code> (the client library), <code>docs/configuration.md</code>, <code>docs/operations.md</code>,
<code>docs/troubleshooting.md</code>.</p>
<h2>Client library</h2>
<ul>
${link('/client/arway-client.js', 'the client library (NavigatorClient with its durable queue, ObserverClient) as one browser ES module, Socket.IO included: <code>import { NavigatorClient } from "/client/arway-client.js"</code>')}
</ul>
<p>In Node.js, React Native or a bundler: <code>import { NavigatorClient } from 'arway-server/client'</code> (and
<code>'arway-server/client/node'</code> for the file storage); <code>docs/client.md</code> has complete examples.</p>
<h2>Operations</h2>
<ul>
${link('/healthz', 'liveness: the process is up')}
${link('/readyz', 'readiness: database reachable, migrations applied, writes healthy (503 with the reasons otherwise)')}
${link('/metrics', 'Prometheus metrics')}
</ul>
<h2>Watching a walk</h2>
<p>A navigator's <code>session:start</code> answers a share token; the live page of the walk is
<code>/watch/&lt;sessionId&gt;#token=&lt;share token&gt;</code> (<code>npm run simulate</code> prints one).</p>
</body></html>
`;
}

export function registerLandingPage(http: FastifyInstance): void {
  const html = renderLandingPage(packageVersion());
  http.get('/', (_request, reply) =>
    reply
      .type('text/html; charset=utf-8')
      .header('content-security-policy', PAGE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .send(html),
  );
}
