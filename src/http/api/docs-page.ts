import { HTTP_ERROR_CODES } from '../../contracts/http.js';
import { PROBLEM_TYPES, problemType } from './problem.js';

/**
 * `/docs`: a small self-contained HTML page (no scripts, no CDN) listing the REST operations and the
 * socket events from the generated OpenAPI and AsyncAPI documents.
 */

const esc = (s: unknown) =>
  String(s).replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);

/** `code` spans for `backticks`, on escaped text. */
const md = (s: unknown) => esc(s).replace(/`([^`]+)`/g, '<code>$1</code>');

const json = (value: unknown) => `<pre>${esc(JSON.stringify(value, null, 2))}</pre>`;

type Obj = Record<string, unknown>;

export function renderDocsPage(openapi: Obj, asyncapi: Obj): string {
  const info = openapi.info as Obj;
  const paths = openapi.paths as Record<string, Record<string, Obj>>;
  const ops: string[] = [];
  for (const [path, methods] of Object.entries(paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const params = (op.parameters as Obj[] | undefined) ?? [];
      const responses = op.responses as Record<string, Obj>;
      const body = (op.requestBody as Obj | undefined)?.content as Record<string, Obj> | undefined;
      const auth = (op.security as Obj[]).map((s) => Object.keys(s)[0]).join(' or ');
      ops.push(`<section class="op" id="${esc(op.operationId)}">
<h3><span class="m ${esc(method)}">${esc(method.toUpperCase())}</span> <code>${esc(path)}</code></h3>
<p><strong>${md(op.summary)}</strong></p>${op.description ? `<p>${md(op.description)}</p>` : ''}
<p class="auth">Auth: ${esc(auth)}</p>
${
  params.length
    ? `<table><tr><th>parameter</th><th>in</th><th>required</th><th>schema</th><th>description</th></tr>${params
        .map(
          (p) =>
            `<tr><td><code>${esc(p.name)}</code></td><td>${esc(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td><td><code>${esc(JSON.stringify(p.schema))}</code></td><td>${md(p.description ?? '')}</td></tr>`,
        )
        .join('')}</table>`
    : ''
}
${body ? `<details><summary>Request body (application/json)</summary>${json(body['application/json']?.schema)}</details>` : ''}
<ul class="responses">${Object.entries(responses)
        .map(([status, r]) => {
          const content = r.content as Record<string, Obj> | undefined;
          const [type, media] = content ? Object.entries(content)[0]! : [];
          return `<li><strong>${esc(status)}</strong> ${md(r.description)}${type ? ` — <code>${esc(type)}</code>` : ''}${
            media && !String(status).match(/^[45]/) ? `<details><summary>schema</summary>${json(media.schema)}</details>` : ''
          }</li>`;
        })
        .join('')}</ul>
</section>`);
    }
  }

  const aOps = asyncapi.operations as Record<string, Obj>;
  const aMessages = (asyncapi.components as Obj).messages as Record<string, Obj>;
  const events = (action: string) =>
    Object.entries(aOps)
      .filter(([, op]) => op.action === action)
      .map(([k, op]) => {
        const msg = aMessages[k]!;
        const ack = aMessages[`${k}.ack`];
        return `<section class="op"><h3><code>${esc(op.title)}</code></h3><p>${md(op.summary)}</p>
<details><summary>payload</summary>${json(msg.payload)}</details>${ack ? `<details><summary>acknowledgement</summary>${json(ack.payload)}</details>` : ''}</section>`;
      })
      .join('\n');

  const schemas = (openapi.components as Obj).schemas as Record<string, unknown>;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(info.title)} — documentation</title>
<style>
body{font:15px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:980px;margin:0 auto;padding:1rem 1.5rem;color:#1b1f24}
h1{margin-bottom:.2rem}h2{border-bottom:2px solid #e3e6ea;padding-bottom:.2rem;margin-top:2.5rem}
.op{border:1px solid #e3e6ea;border-radius:8px;padding:.4rem 1rem;margin:1rem 0}
.op h3{margin:.4rem 0;font-size:1.05rem}
.m{display:inline-block;min-width:4.2rem;text-align:center;border-radius:4px;color:#fff;font-size:.8rem;padding:.1rem .3rem}
.get{background:#2f6fb5}.post{background:#2e8b57}.patch{background:#b5862f}.delete{background:#b53a2f}
code{background:#f3f4f6;padding:0 .2rem;border-radius:3px;font-size:.88em}pre{background:#f6f8fa;padding:.6rem;overflow:auto;font-size:.82rem;border-radius:6px}
table{border-collapse:collapse;font-size:.88rem;margin:.4rem 0}td,th{border:1px solid #e3e6ea;padding:.2rem .5rem;text-align:left;vertical-align:top}
.auth{color:#57606a;font-size:.9rem}nav a{margin-right:1rem}
</style></head><body>
<h1>${esc(info.title)} <small>v${esc(info.version)}</small></h1>
<nav><a href="/docs/openapi.json">openapi.json</a><a href="/docs/asyncapi.json">asyncapi.json</a><a href="#rest">REST</a><a href="#problems">Errors</a><a href="#socket">Socket protocol</a><a href="#schemas">Schemas</a></nav>
<p>${md(info.description)}</p>
<p>Authenticate with <code>Authorization: Bearer &lt;JWT&gt;</code> (<code>npm run token</code> prints one for the seeded user).</p>
<h2 id="rest">REST operations</h2>
${ops.join('\n')}
<h2 id="problems">Errors (RFC 9457 problem+json)</h2>
<p>Every error answers <code>application/problem+json</code> with <code>type</code>, <code>title</code>, <code>status</code>, <code>detail</code>, <code>instance</code>, <code>code</code>, <code>requestId</code> and, for validation, the zod <code>issues</code>.</p>
<table><tr><th>code</th><th>status</th><th>type</th><th>meaning</th></tr>${HTTP_ERROR_CODES.map(
    (c) =>
      `<tr id="problem-${esc(c)}"><td><code>${esc(c)}</code></td><td>${PROBLEM_TYPES[c].status}</td><td><code>${esc(problemType(c))}</code></td><td>${md(PROBLEM_TYPES[c].description)}</td></tr>`,
  ).join('')}</table>
<h2 id="socket">Socket protocol (${esc((asyncapi.info as Obj).title)})</h2>
<p>${md((asyncapi.info as Obj).description)}</p>
<h3>Client → server</h3>
${events('receive')}
<h3>Server → client</h3>
${events('send')}
<h2 id="schemas">Schemas</h2>
${Object.entries(schemas)
  .map(([name, s]) => `<details id="schema-${esc(name)}"><summary><code>${esc(name)}</code></summary>${json(s)}</details>`)
  .join('\n')}
</body></html>
`;
}
