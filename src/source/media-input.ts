import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { BufferPool } from '../util/buffer-pool.js';
import { checkMediaFile } from '../util/media-file.js';

/**
 * Read size for media files. Frames are views into these buffers, which return to their pool when the
 * fragments viewing them are acknowledged: unlike an `fs.ReadStream`, no new buffer per read
 * (docs/architecture.md has the measurement).
 */
export const FILE_READ_BYTES = 256 * 1024;

/**
 * Opens a media input: a path, or `-` for stdin. Fails with one clear line (exit code 7) when the file
 * cannot be read, before any byte is consumed. A file is read into `pool` buffers; the caller holds one
 * reference to each chunk it gets (see {@link BufferPool}); callers that never release simply leave the
 * buffers to the garbage collector.
 */
export const openMediaInput = async (
  path: string,
  stdin: Readable,
  cwd: string,
  pool = new BufferPool(FILE_READ_BYTES),
): Promise<AsyncIterable<Uint8Array>> => {
  if (path === '-') {
    return stdin;
  }
  const fullPath = resolve(cwd, path);
  await checkMediaFile(fullPath, path);
  return readFileChunks(await open(fullPath, 'r'), pool);
};

/** Reads a file front to back into pool buffers, the next read in flight while the caller works on a chunk. */
async function* readFileChunks(handle: FileHandle, pool: BufferPool): AsyncGenerator<Uint8Array> {
  const readNext = async (): Promise<Uint8Array | undefined> => {
    const buffer = pool.acquire();
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    if (bytesRead === 0) {
      pool.release(buffer);
      return undefined;
    }
    return buffer.subarray(0, bytesRead);
  };
  // A failed read ahead is reported when its chunk is awaited, not as an unhandled rejection before.
  const ahead = (): Promise<Uint8Array | undefined> => {
    const read = readNext();
    read.catch(() => undefined);
    return read;
  };
  let next = ahead();
  try {
    for (;;) {
      const chunk = await next;
      if (chunk === undefined) {
        return;
      }
      next = ahead();
      yield chunk;
    }
  } finally {
    // A read still in flight (the caller stopped early) must finish before the file closes.
    await next.catch(() => undefined);
    await handle.close();
  }
}
