#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { compileCacheDirectory, loadBundle, runKind } from '../dist/cli/load-bundle.js';

// The CLI is one bundled file (scripts/bundle-cli.mjs), run with V8's code cache (src/cli/load-bundle.ts).
loadBundle(fileURLToPath(new URL('../dist/kvs-put.cjs', import.meta.url)), {
  cacheDirectory: compileCacheDirectory(process.env),
  kind: runKind(process.argv.slice(2)),
});
