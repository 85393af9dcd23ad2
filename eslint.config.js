// @ts-check
import tseslint from 'typescript-eslint';
import n from 'eslint-plugin-n';

/**
 * fluent-ffmpeg's one door, where its defects are worked around. Every import list below carries this rule,
 * since a later list replaces an earlier one for the files both match.
 */
const FLUENT_FFMPEG_ADAPTER = 'src/capture/fluent-ffmpeg-adapter.ts';
const fluentFfmpegOnlyInAdapter = {
  name: 'fluent-ffmpeg',
  message: `import fluent-ffmpeg only in ${FLUENT_FFMPEG_ADAPTER}, which works around its defects (see its list); use FfmpegProcess or ffprobeFile.`,
};

/** A folder's import rule: the patterns it may not import, with the message that says why. */
const layer = (files, group, message, paths = [fluentFfmpegOnlyInAdapter]) => ({
  files: [files],
  rules: { 'no-restricted-imports': ['error', { paths, patterns: [{ group, message }] }] },
});

const CAPTURE_MAY_NOT_IMPORT = [
  '../source/*',
  '../kvs/*',
  '!../kvs/ack.js',
  '../session/*',
  '../upload/*',
  '../emulator/*',
  '../cli/*',
];
const CAPTURE_RULE =
  'capture/ (ffmpeg) never imports the sources, the PutMedia client, the upload, the local KVS or the CLI.';

export default tseslint.config(
  {
    // examples/ import the package by its name: the packed-package test type-checks them with tsc --strict.
    ignores: [
      'dist/**',
      'node_modules/**',
      'fixtures/**',
      'bin/**',
      '.bench/**',
      'examples/**',
      'eslint.config.js',
    ],
  },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
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
      'no-restricted-imports': ['error', { paths: [fluentFfmpegOnlyInAdapter] }],
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
          paths: [fluentFfmpegOnlyInAdapter],
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
  // The pipeline's layers, lowest first: util → mkv, codec → fragment → capture → source → kvs → upload → cli.
  // A layer imports only the ones below it; the local KVS (emulator/) shares the service's vocabulary with
  // the client (mkv/, fragment/, kvs/ack.ts, kvs/kvs-protocol.ts) and nothing else of it.
  layer('src/util/**', ['../*/*'], 'util/ imports no other folder of kvs-put.'),
  layer(
    'src/fragment/**',
    ['../capture/*', ...CAPTURE_MAY_NOT_IMPORT],
    'fragment/ imports only mkv/, codec/, util/ and the ack vocabulary (kvs/ack.ts).',
  ),
  layer('src/capture/**', CAPTURE_MAY_NOT_IMPORT, CAPTURE_RULE),
  layer(FLUENT_FFMPEG_ADAPTER, CAPTURE_MAY_NOT_IMPORT, CAPTURE_RULE, []),
  layer(
    'src/source/**',
    ['../kvs/*', '!../kvs/ack.js', '../session/*', '../upload/*', '../emulator/*', '../cli/*'],
    'source/ makes fragments: it never imports the PutMedia client, the upload, the local KVS or the CLI.',
  ),
  layer(
    'src/kvs/**',
    ['../capture/*', '../source/*', '../upload/*', '../emulator/*', '../cli/*'],
    'kvs/ never imports capture/, source/, upload/, emulator/ or cli/.',
  ),
  layer(
    'src/spool/**',
    ['../capture/*', '../source/*', '../kvs/*', '../session/*', '../upload/*', '../emulator/*', '../cli/*'],
    'spool/ keeps fragments on disk: it imports only util/, mkv/ and fragment/.',
  ),
  layer(
    'src/session/**',
    ['../capture/*', '../source/*', '../upload/*', '../emulator/*', '../cli/*'],
    'session/ sends fragments: it never imports capture/, source/, upload/, emulator/ or cli/.',
  ),
  layer(
    'src/upload/**',
    ['../emulator/*', '../cli/*'],
    'upload/ is the library: it never imports the local KVS or the CLI.',
  ),
  layer(
    'src/emulator/**',
    [
      '../kvs/*',
      '!../kvs/ack.js',
      '!../kvs/kvs-protocol.js',
      '../session/*',
      '../capture/*',
      '../source/*',
      '../upload/*',
      '../cli/*',
    ],
    'the emulator never imports the client: of kvs/ it shares only the vocabulary (ack.ts, kvs-protocol.ts).',
  ),
  {
    files: ['src/session/**'],
    rules: {
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
