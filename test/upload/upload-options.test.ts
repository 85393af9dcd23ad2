import { describe, expect, it } from 'vitest';
import { KvsPutError } from '../../src/errors.js';
import { UPLOAD_DEFAULTS, resolveUploadConfig } from '../../src/upload/upload-options.js';

describe('upload options: defaulted and checked in one place', () => {
  it('a live source retries for ever unless maxRetries is given, a recording gives up after 8', () => {
    expect(resolveUploadConfig({ stream: 's' }, true).maxAttempts).toBe(Infinity);
    expect(resolveUploadConfig({ stream: 's' }, false).maxAttempts).toBe(UPLOAD_DEFAULTS.fileMaxRetries);
  });

  // The regression: put.ts compared --max-retries with its default, so `--max-retries 8` given on a live
  // source meant "retry forever". Whether the option was given is what counts.
  it('maxRetries given on a live source is kept, even when it equals the recordings default', () => {
    expect(resolveUploadConfig({ stream: 's', maxRetries: 8 }, true).maxAttempts).toBe(8);
    expect(resolveUploadConfig({ stream: 's', maxRetries: 0 }, true).maxAttempts).toBe(0);
  });

  it('buffers 16 MiB for recordings and 64 MiB for live sources, unless bufferMb says otherwise', () => {
    expect(resolveUploadConfig({ stream: 's' }, false).maxBufferBytes).toBe(16 * 1024 * 1024);
    expect(resolveUploadConfig({ stream: 's' }, true).maxBufferBytes).toBe(64 * 1024 * 1024);
    expect(resolveUploadConfig({ stream: 's', bufferMb: 2 }, true).maxBufferBytes).toBe(2 * 1024 * 1024);
  });

  it('retryDelay sets the first backoff ceiling and sixteen times it as the largest', () => {
    const { backoff } = resolveUploadConfig({ stream: 's', retryDelay: 100 }, false);
    expect(backoff).toMatchObject({ initialDelayMs: 100, maxDelayMs: 1600 });
  });

  it('refuses a missing stream, a malformed name and negative numbers as usage errors', () => {
    const usage = (run: () => unknown): string => {
      try {
        run();
      } catch (error) {
        expect(error).toBeInstanceOf(KvsPutError);
        return (error as KvsPutError).code;
      }
      throw new Error('expected a KvsPutError');
    };
    expect(usage(() => resolveUploadConfig({}, false))).toBe('KVS_USAGE');
    expect(usage(() => resolveUploadConfig({ stream: 'a b' }, false))).toBe('KVS_USAGE');
    expect(usage(() => resolveUploadConfig({ stream: 's', maxRate: -1 }, false))).toBe('KVS_USAGE');
  });
});
