/**
 * Writing stored fragments to a media answer (GetMedia, GetMediaForFragmentList): each fragment as the service lays
 * it out (kvs-chunk.ts), written with backpressure so that a slow reader slows the reading of the fragments.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { chunkHeadTags } from './kvs-chunk.js';
import type { MediaStore, StoredFragment } from './media-store.js';
import type { StreamRecord } from './stream-store.js';

/** Writes, and waits for `drain` when the socket's buffer is full. */
export const writeOrWait = async (
  response: ServerResponse,
  bytes: Uint8Array,
  signal: AbortSignal,
): Promise<void> => {
  if (signal.aborted || response.destroyed || bytes.length === 0) {
    return;
  }
  if (!response.write(bytes)) {
    // Whichever event loses the race must not stay subscribed: this runs once per full socket buffer.
    const settled = new AbortController();
    const options = { signal: settled.signal };
    await Promise.race([
      once(response, 'drain', options).catch(() => undefined),
      once(response, 'close', options).catch(() => undefined),
    ]);
    settled.abort();
  }
};

/** Writes a fragment as the service serves it: its session header, the service's head tags, its bytes as sent. */
export const writeFragment = async (
  response: ServerResponse,
  media: MediaStore,
  stream: StreamRecord,
  fragment: StoredFragment,
  signal: AbortSignal,
): Promise<void> => {
  await writeOrWait(response, media.header(stream, fragment), signal);
  await writeOrWait(response, chunkHeadTags(fragment), signal);
  for await (const piece of media.readFragment(stream, fragment)) {
    await writeOrWait(response, piece, signal);
  }
};
