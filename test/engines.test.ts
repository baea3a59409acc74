import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { satisfiesNodeRange } from './helpers/node-range.js';

/**
 * `npm install` / `npm ci` warn EBADENGINE for an installed package whose `engines.node` excludes
 * the running Node.js. The lockfile records every package's engines: none may exclude this Node.
 */

describe('satisfiesNodeRange', () => {
  it.each([
    ['20.20.2', '>=22', false],
    ['20.20.2', '>=18', true],
    ['20.20.2', '^20.19.0 || >=22.12.0', true],
    ['20.18.0', '^20.19.0 || >=22.12.0', false],
    ['20.20.2', '^18.18.0 || ^20.9.0 || >=21.1.0', true],
    ['20.20.2', '20 || >=22', true],
    ['21.0.0', '20 || >=22', false],
    ['20.20.2', '6.* || 8.* || >= 10.*', true],
    ['9.1.0', '6.* || 8.* || >= 10.*', false],
    ['20.20.2', '>= 10.x', true],
    ['20.20.2', '*', true],
    ['20.20.2', '^10 || ^12 || ^13.7 || ^14 || >=15.0.1', true],
    ['20.20.2', '~20.19', false],
    ['20.19.9', '~20.19', true],
    ['20.20.2', '>=18 <20.20.2', false],
    ['20.20.2', '18 - 20', true],
    ['20.20.2', '18 - 20.19', false],
    ['20.20.2', '>20', false],
    ['20.20.2', '<=20', true],
  ])('%s satisfies %j: %s', (version, range, expected) => {
    expect(satisfiesNodeRange(version, range)).toBe(expected);
  });

  it('refuses a spelling it does not know rather than guessing', () => {
    expect(() => satisfiesNodeRange('20.20.2', 'node-lts')).toThrow(/unsupported engines.node range/);
  });
});

it("no package in package-lock.json declares an engines.node that excludes this Node.js (npm's EBADENGINE)", async () => {
  const lock = JSON.parse(await readFile(new URL('../package-lock.json', import.meta.url), 'utf8')) as {
    packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
  };
  const current = process.versions.node;
  const excluding = Object.entries(lock.packages)
    .filter(([, pkg]) => pkg.engines && !Array.isArray(pkg.engines) && pkg.engines.node)
    .filter(([, pkg]) => !satisfiesNodeRange(current, (pkg.engines as { node: string }).node))
    .map(([path, pkg]) => `${path.replace(/^.*node_modules\//, '')}@${pkg.version} requires node ${(pkg.engines as { node: string }).node}`);
  expect(excluding, `Node.js ${current}`).toEqual([]);
});
