// @ts-check
import tseslint from 'typescript-eslint';
import n from 'eslint-plugin-n';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'fixtures/**', 'bin/**', '.bench/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['bench/*.js', 'scripts/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    plugins: { n },
    rules: {
      curly: 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'n/prefer-node-protocol': 'error',
      'n/no-process-exit': 'error',
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='pipe']",
          message: '.pipe() does not forward errors; use stream/promises pipeline().',
        },
      ],
    },
  },
  {
    files: ['src/mkv/**', 'src/codec/**'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'Buffer', message: 'mkv/ and codec/ work on Uint8Array/DataView only.' },
      ],
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'mkv/ and codec/ are pure: no Node APIs.' },
            {
              group: ['../kvs/*', '../emulator/*', '../cli/*', '../capture/*'],
              message: 'mkv/ imports only util/ and codec/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/kvs/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../capture/*', '../emulator/*'],
              message: 'kvs/ never imports capture/ or emulator/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/session/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../capture/*', '../emulator/*', '../cli/*'],
              message: 'session/ never imports capture/, emulator/ or cli/.',
            },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        ...['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'performance'].map((name) => ({
          name,
          message:
            'session/ reads time and waits through its injected Clock (util/clock.ts), so tests can fake it.',
        })),
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Date',
          property: 'now',
          message: 'session/ reads time through its injected Clock (util/clock.ts), so tests can fake it.',
        },
      ],
    },
  },
  {
    files: ['src/emulator/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['../kvs/put-*', '../session/*', '../capture/*', '../cli/*'],
              message: 'the emulator never imports the client.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/cli/bin.ts', 'scripts/**', 'bench/**'],
    rules: { 'n/no-process-exit': 'off' },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
