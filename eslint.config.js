// Lint: typescript-eslint's recommended rules, no import cycles, and the layering the README draws:
// core knows nothing of the layers around it; the product never imports the simulators statically.
import js from '@eslint/js';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const outside = (layers) =>
  layers.map((layer) => ({
    group: [`../${layer}/*`, `../../src/${layer}/*`],
    message: `src/core must not depend on src/${layer}: move the contract into core or pass it in`,
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
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: outside(['providers', 'input', 'report', 'commands', 'cli', 'auth']) },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/simulators/**', '**/test/**'],
              message: 'the product never imports simulators or tests statically (demo loads them with import())',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...outside(['providers', 'input', 'report', 'commands', 'cli', 'auth']),
            { group: ['**/simulators/**', '**/test/**'], message: 'core never imports simulators or tests' },
          ],
        },
      ],
    },
  },
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
