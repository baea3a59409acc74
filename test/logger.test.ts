import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chooseLogFormat, createLogger } from '../src/logger.js';

/** Pretty lines for a person at a terminal in development; JSON everywhere else. */

/** A destination collecting what the logger writes; `isTTY` pretends to be a terminal. */
function sink(isTTY: boolean): { stream: Writable & { isTTY?: boolean }; text: () => string } {
  let text = '';
  const stream: Writable & { isTTY?: boolean } = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString('utf8');
      done();
    },
  });
  if (isTTY) stream.isTTY = true;
  return { stream, text: () => text };
}

/** pino writes to a stream destination synchronously, but let any pending write land. */
const settle = () => new Promise((r) => setImmediate(r));

describe('chooseLogFormat', () => {
  it('is pretty only for development on a terminal', () => {
    expect(chooseLogFormat('development', true)).toBe('pretty');
    expect(chooseLogFormat('development', false)).toBe('json');
    expect(chooseLogFormat('development', undefined)).toBe('json');
    expect(chooseLogFormat('production', true)).toBe('json');
    expect(chooseLogFormat('test', true)).toBe('json');
    expect(chooseLogFormat(undefined, true)).toBe('json');
  });
});

describe('createLogger', () => {
  it('writes one JSON object per line to a destination that is not a terminal, even in development', async () => {
    const out = sink(false);
    const log = createLogger('info', {}, out.stream, { env: 'development' });
    log.info({ sessionId: 's-1' }, 'hello');
    await settle();
    const lines = out.text().trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, service: 'arway', sessionId: 's-1', msg: 'hello' });
  });

  it('writes JSON in production and in tests, even on a terminal', async () => {
    for (const env of ['production', 'test']) {
      const out = sink(true);
      createLogger('info', {}, out.stream, { env }).info('hello');
      await settle();
      expect(JSON.parse(out.text()), env).toMatchObject({ msg: 'hello' });
    }
  });

  it('writes pretty lines in development on a terminal, with the same redaction', async () => {
    const out = sink(true);
    const log = createLogger('info', {}, out.stream, { env: 'development' });
    log.info({ token: 'secret-jwt', auth: { token: 'x' }, sessionId: 's-2' }, 'listening');
    await settle();
    const text = out.text();
    expect(() => JSON.parse(text)).toThrow();
    // eslint-disable-next-line no-control-regex -- pino-pretty colours its output on a terminal
    const plain = text.replace(/\x1b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: listening\n/);
    expect(plain).toContain('sessionId: "s-2"');
    expect(plain).toContain('token: "[redacted]"');
    expect(plain).not.toContain('secret-jwt');
    expect(plain).not.toContain('service');
  });
});
