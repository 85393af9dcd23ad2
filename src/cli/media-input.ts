import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { checkMediaFile } from '../util/media-file.js';

/**
 * Read size for media files. Frames are views into these chunks, so chunks live until their fragment is
 * sent; 128 KiB keeps per-chunk overhead small (≈1.3 GB/s) and peak RSS low (bench: 1 GB file, 82–88 MB;
 * 256 KiB reads at 2 GB/s but peaks near 100 MB).
 */
export const FILE_READ_BYTES = 128 * 1024;

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
