// Bundles the CLI (dist/cli/bin.js, tsc's output) and its dependencies into one file, dist/kvs-put.mjs.
// Start-up is most of what a short run costs (cron uploads, CI smoke tests, a camera box restarting):
// resolving and compiling ~400 files in node_modules took ~0.1 CPU s of the ~0.3 s before the first frame.
// The library entry (dist/index.js) stays unbundled.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/cli/bin.js'],
  outfile: 'dist/kvs-put.mjs',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Resolves its ffmpeg binary from its own install folder at run time.
  external: ['@ffmpeg-installer/ffmpeg'],
  // The AWS SDK and fluent-ffmpeg are CommonJS: their require() calls need a real require in an ES module,
  // and fluent-ffmpeg reads __dirname (for its presets folder, which kvs-put never uses) in every command.
  banner: {
    js: [
      "import { createRequire as createRequire_ } from 'node:module';",
      "import { dirname as dirname_ } from 'node:path';",
      "import { fileURLToPath as fileURLToPath_ } from 'node:url';",
      'const require = createRequire_(import.meta.url);',
      'const __filename = fileURLToPath_(import.meta.url);',
      'const __dirname = dirname_(__filename);',
    ].join('\n'),
  },
  sourcemap: 'linked',
  logLevel: 'warning',
});
