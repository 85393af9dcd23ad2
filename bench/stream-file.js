// Streams one MKV file through the clip source (pooled reads → reader → fragmenter) and the session writer,
// releasing each fragment once written as an acknowledged upload would; prints bytes, time and peak RSS as JSON.
import { statSync } from 'node:fs';
import { clipFragments } from '../dist/source/clip-source.js';
import { SessionWriter } from '../dist/fragment/session-writer.js';
import { peakRssBytes } from '../dist/util/peak-rss.js';

const path = process.argv[2];
const writer = new SessionWriter();
const stats = [];
const start = process.hrtime.bigint();
let out = 0;
let fragments = 0;
const source = clipFragments(
  [{ path, startTimeMs: 1_700_000_000_000 }],
  {},
  { stdin: process.stdin, cwd: process.cwd(), openFfmpeg: () => [] },
  { onRefused: () => undefined, stats },
);
for await (const item of source) {
  for (const chunk of writer.write(item)) {
    out += chunk.length;
  }
  // Session headers are written with the fragment after them and hold no memory.
  if (item.type === 'fragment') {
    item.release?.();
    fragments++;
  }
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
console.log(
  JSON.stringify({
    bytes: statSync(path).size,
    outBytes: out,
    seconds,
    fragments,
    maxRssBytes: peakRssBytes(),
  }),
);
