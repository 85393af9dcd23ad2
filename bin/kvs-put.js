#!/usr/bin/env node
import module from 'node:module';

// Node 22.1+ keeps compiled code between runs (start-up counts for cron jobs and CI steps); older Node skips it.
module.enableCompileCache?.();
await import('../dist/cli/bin.js');
