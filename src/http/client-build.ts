import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The client library (src/client) as one browser ES module, socket.io-client included:
 * `GET /client/arway-client.js` (and its source map). It is built with esbuild on the first request
 * and kept in memory, so there is no build step to remember and no build output to go stale: it is
 * always the library of the running server. esbuild is a dependency (tsx, which runs the server,
 * uses the same version); a build takes about 0.2 s of CPU, once per process.
 */

export const CLIENT_BUNDLE_PATH = '/client/arway-client.js';
const entry = fileURLToPath(new URL('../client/index.ts', import.meta.url));

export interface ClientBundle {
  code: Buffer;
  map: Buffer;
}

let building: Promise<ClientBundle> | null = null;

/** Builds the bundle once per process (a failed build is tried again on the next call). */
export function clientBundle(): Promise<ClientBundle> {
  building ??= build().catch((err: unknown) => {
    building = null;
    throw err;
  });
  return building;
}

async function build(): Promise<ClientBundle> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    sourcemap: 'linked',
    sourcesContent: true,
    legalComments: 'eof',
    outfile: 'arway-client.js',
    write: false,
    logLevel: 'silent',
  });
  const code = result.outputFiles.find((f) => f.path.endsWith('.js'));
  const map = result.outputFiles.find((f) => f.path.endsWith('.js.map'));
  if (!code || !map) throw new Error('esbuild produced no bundle');
  const banner = '/* ARWay client library (arway-server/client), built by the server from src/client; docs/client.md */\n';
  return { code: Buffer.concat([Buffer.from(banner), Buffer.from(code.contents)]), map: Buffer.from(map.contents) };
}

export function registerClientBundle(http: FastifyInstance): void {
  const send = async (reply: FastifyReply, part: keyof ClientBundle) => {
    let bundle: ClientBundle;
    try {
      bundle = await clientBundle();
    } catch (err) {
      reply.log.error({ err }, 'building the client bundle failed');
      return reply.code(500).type('text/plain; charset=utf-8').send('The client bundle could not be built (see the server log).\n');
    }
    return reply
      .header('content-type', part === 'code' ? 'text/javascript; charset=utf-8' : 'application/json; charset=utf-8')
      .header('cache-control', 'public, max-age=300')
      .header('x-content-type-options', 'nosniff')
      .header('access-control-allow-origin', '*')
      .send(bundle[part]);
  };
  http.get(CLIENT_BUNDLE_PATH, (_request, reply) => send(reply, 'code'));
  http.get(`${CLIENT_BUNDLE_PATH}.map`, (_request, reply) => send(reply, 'map'));
}
