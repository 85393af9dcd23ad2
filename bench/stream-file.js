// Streams one MKV file through reader → fragmenter → session writer and prints bytes, time and peak RSS as JSON.
import { statSync } from 'node:fs';
import { openMediaInput } from '../dist/cli/media-input.js';
import { readMkv } from '../dist/mkv/mkv-reader.js';
import { Fragmenter } from '../dist/fragment/fragmenter.js';
import { SessionWriter } from '../dist/fragment/session-writer.js';

const path = process.argv[2];
const fragmenter = new Fragmenter({ startTimeMs: 1_700_000_000_000 });
const writer = new SessionWriter();
const start = process.hrtime.bigint();
let out = 0;
for await (const event of readMkv(await openMediaInput(path, process.stdin, process.cwd()))) {
  for (const fragment of fragmenter.push(event)) {
    for (const chunk of writer.write(fragment)) {
      out += chunk.length;
    }
  }
}
for (const fragment of fragmenter.end()) {
  for (const chunk of writer.write(fragment)) {
    out += chunk.length;
  }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(
  JSON.stringify({
    bytes: statSync(path).size,
    outBytes: out,
    seconds,
    fragments: fragmenter.stats.fragments,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
