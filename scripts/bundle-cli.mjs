// Bundles the CLI (dist/cli/bin.js, tsc's output) and its dependencies into one file, dist/kvs-put.cjs.
// Start-up is most of what a short run costs (cron uploads, CI smoke tests, a camera box restarting):
// resolving and compiling ~400 files in node_modules was a large part of the time before the first frame.
// The library entry (dist/index.js) stays unbundled.
import { readFileSync } from 'node:fs';
import { build } from 'esbuild';

// eslint-disable-next-line @typescript-eslint/no-unsafe-assignment -- our own package.json
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));

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
  // src/version.ts reads package.json beside dist/ when unbundled; the bundle carries the version instead.
  // (import.meta.url is then never read: the CommonJS bundle has none.)
  define: { KVS_PUT_BUNDLED_VERSION: JSON.stringify(version), 'import.meta.url': 'undefined' },
  // import() becomes require(): a script compiled from V8's code cache cannot import() (see load-bundle.ts),
  // and everything the bundle loads at run time (Node's modules, @ffmpeg-installer) is CommonJS-loadable.
  supported: { 'dynamic-import': false },
  // No comments or indentation: a smaller file to read and hash at every start, and plain ASCII (comments
  // hold '→' and '…'), which Node reads much faster than UTF-8 with other characters.
  minifyWhitespace: true,
  sourcemap: 'linked',
  logLevel: 'warning',
});

// A non-ASCII character (a dependency's legal comment, say) makes every start decode the file the slow way.
const nonAscii = /[^\x00-\x7f]/.exec(readFileSync('dist/kvs-put.cjs', 'latin1'));
if (nonAscii !== null) {
  console.warn(
    `bundle-cli: dist/kvs-put.cjs is not plain ASCII (at byte ${nonAscii.index}): start-up reads it slower`,
  );
}
