import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { checkMediaFile } from '../util/media-file.js';

/**
 * Read size for media files. Frames are views into these chunks, so chunks live until their fragment is
 * sent; 256 KiB keeps per-chunk overhead negligible (≈2 GB/s) and peak RSS low (bench: 1 GB file, < 90 MB).
 */
export const FILE_READ_BYTES = 256 * 1024;

/**
 * Opens a media input: a path, or `-` for stdin. Fails with one clear line (exit code 7) when the file
 * cannot be read, before any byte is consumed.
 */
export const openMediaInput = async (
  path: string,
  stdin: Readable,
  cwd: string,
): Promise<AsyncIterable<Uint8Array>> => {
  if (path === '-') {
    return stdin;
  }
  const fullPath = resolve(cwd, path);
  await checkMediaFile(fullPath, path);
  return createReadStream(fullPath, { highWaterMark: FILE_READ_BYTES });
};
