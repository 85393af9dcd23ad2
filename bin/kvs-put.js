#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import {
  applyV8Flags,
  compileCacheDirectory,
  loadBundle,
  runKind,
  v8FlagsFor,
} from '../dist/cli/load-bundle.js';

const kind = runKind(process.argv.slice(2));
applyV8Flags(v8FlagsFor(kind, process.env));

// The CLI is one bundled file (scripts/bundle-cli.mjs), run with V8's code cache (src/cli/load-bundle.ts).
loadBundle(fileURLToPath(new URL('../dist/kvs-put.cjs', import.meta.url)), {
  cacheDirectory: compileCacheDirectory(process.env),
  kind,
});
