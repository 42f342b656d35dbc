// Lint: typescript-eslint's recommended rules, no import cycles (import-x/no-cycle for value imports;
// scripts/check-cycles.mjs counts type-only ones too) and the rooms of src/ pointing one way: core knows
// nothing of the layers around it; the product never imports the simulators statically.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

// The rooms of src/, bottom to top; each may import only the rooms beneath it (and never a room
// that imports it): core ← report ← input ← auth ← providers; common (io, progress, settings, exit
// codes) ← commands ← cli. A room's list names what it must not import.
const forbidden = {
  core: ['report', 'input', 'auth', 'providers', 'common', 'commands', 'cli'],
  report: ['input', 'auth', 'providers', 'common', 'commands', 'cli'],
  input: ['auth', 'providers', 'common', 'commands', 'cli'],
  auth: ['providers', 'common', 'commands', 'cli'],
  providers: ['common', 'commands', 'cli'],
  common: ['auth', 'providers', 'commands', 'cli'],
  commands: ['cli'],
};
const productOnly = {
  group: ['**/simulators/**', '**/test/**'],
  message: 'the product never imports simulators or tests statically (demo loads them with import())',
};
const rooms = Object.entries(forbidden).map(([room, above]) => ({
  files: [`src/${room}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...above.map((layer) => ({
            group: [`../${layer}/*`, `../../src/${layer}/*`],
            message: `src/${room} must not import src/${layer}: move what both need beneath them, or pass it in`,
          })),
          productOnly,
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'scratch/**', 'sinkrule-report-*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: './tsconfig.json' })],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      'import-x/no-cycle': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  { files: ['src/**/*.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [productOnly] }] } },
  ...rooms,
  // Tests read report.json as the admin's tools would: untyped JSON.
  { files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } },
  { files: ['scripts/**/*.mjs'], languageOptions: { globals: { console: 'readonly', process: 'readonly' } } },
  // report.html's script runs in the browser, as a classic script.
  {
    files: ['templates/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: {
        document: 'readonly',
        window: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        Intl: 'readonly',
      },
    },
  },
);
