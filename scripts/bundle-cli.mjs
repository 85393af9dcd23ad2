// Bundles the CLI (dist/cli/bin.js, tsc's output) and its dependencies into one file, dist/kvs-put.cjs.
// Start-up is most of what a short run costs (cron uploads, CI smoke tests, a camera box restarting):
// resolving and compiling ~400 files in node_modules took ~0.1 CPU s of the ~0.3 s before the first frame.
// The library entry (dist/index.js) stays unbundled.
import { build } from 'esbuild';

await build({
  entryPoints: ['dist/cli/bin.js'],
  // CommonJS, so that bin/kvs-put.js can run it with V8's code cache on any Node (src/cli/load-bundle.ts).
  outfile: 'dist/kvs-put.cjs',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Resolves its ffmpeg binary from its own install folder at run time.
  external: ['@ffmpeg-installer/ffmpeg'],
  // import() becomes require(): a script compiled from V8's code cache cannot import() (see load-bundle.ts),
  // and everything the bundle loads at run time (Node's modules, @ffmpeg-installer) is CommonJS-loadable.
  supported: { 'dynamic-import': false },
  sourcemap: 'linked',
  logLevel: 'warning',
});
