#!/usr/bin/env node
import module from 'node:module';

// Node 22.1+ keeps compiled code between runs (start-up counts for cron jobs and CI steps); older Node skips it.
module.enableCompileCache?.();
// The CLI as one bundled file (scripts/bundle-cli.mjs): no module resolution across node_modules at start-up.
await import('../dist/kvs-put.mjs');
