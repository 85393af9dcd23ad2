import { describe, expect, it } from 'vitest';
import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import { ErrorCode, KvsPutError } from '../../src/errors.js';
import { fileSource, testPattern } from '../../src/source/sources.js';
import type { UploadEvent } from '../../src/upload/upload-events.js';
import { upload } from '../../src/upload/upload.js';
import { expectEventRecord } from '../helpers/event-schema.js';
import { FIXTURES, hasTool } from '../helpers/paths.js';

const hasFfmpeg = hasTool('ffmpeg');

describe('upload(): the pipeline as a library, against the local KVS', () => {
  it('emits the --json records in order and resolves done with the summary event', async () => {
    await using kvs = await startLocalKvs();
    const run = upload(fileSource(`${FIXTURES}/h264-aac.mkv`), {
      stream: 'lib',
      create: true,
      retentionHours: 1,
      endpointUrl: kvs.url,
      region: kvs.region,
      credentials: kvs.credentials,
    });
    const events: UploadEvent[] = [];
    for await (const event of run) {
      events.push(event);
    }
    const summary = await run.done;
    expect(events[0]).toMatchObject({ event: 'start', stream: 'lib', source: 'clips', retentionHours: 1 });
    expect(events.at(-1)).toBe(summary);
    // The library's records are --json's: each one, as JSON, fits docs/events.schema.json.
    for (const event of events) {
      expectEventRecord(JSON.parse(JSON.stringify(event)));
    }
    expect(summary).toMatchObject({
      event: 'summary',
      fragments: 3,
      persisted: 3,
      unacknowledged: 0,
      refused: 0,
      // An AAC frame that comes before the first key frame.
      framesNotSent: { beforeFirstKeyFrame: 1, late: 0, otherTracks: 0, leadingPictures: 0 },
    });
    const persisted = events.filter((event) => event.event === 'ack' && event.EventType === 'PERSISTED');
    expect(persisted.map((event) => (event.event === 'ack' ? event.sequence : -1))).toEqual([0, 1, 2]);
    // What went on the wire, end-of-session marker included: at least the fragments' bytes.
    expect(run.bytesSent).toBeGreaterThanOrEqual(summary.bytesSent);
  });

  it('a missing stream without create rejects done with a KvsPutError, and ends the iteration with it', async () => {
    await using kvs = await startLocalKvs();
    const run = upload(fileSource(`${FIXTURES}/h264.mkv`), {
      stream: 'absent',
      endpointUrl: kvs.url,
      region: kvs.region,
      credentials: kvs.credentials,
    });
    const events: UploadEvent[] = [];
    const iterating = (async () => {
      for await (const event of run) {
        events.push(event);
      }
    })();
    await expect(iterating).rejects.toMatchObject({ code: ErrorCode.StreamNotFound });
    // Only the summary comes before the failure, and it says what failed.
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      event: 'summary',
      fragments: 0,
      isInterrupted: false,
      error: { code: ErrorCode.StreamNotFound },
    });
    expectEventRecord(JSON.parse(JSON.stringify(events[0])));
    const error: unknown = await run.done.catch((reason: unknown) => reason);
    expect(error).toBeInstanceOf(KvsPutError);
  });

  it.skipIf(!hasFfmpeg)(
    'stop() ends a live source: its last fragment is flushed and acknowledged',
    async () => {
      await using kvs = await startLocalKvs();
      const run = upload(testPattern({ videoSize: '320x240', keyframeInterval: 1 }), {
        stream: 'live-lib',
        create: true,
        retentionHours: 1,
        endpointUrl: kvs.url,
        region: kvs.region,
        credentials: kvs.credentials,
      });
      let persisted = 0;
      for await (const event of run) {
        if (event.event === 'ack' && event.EventType === 'PERSISTED' && ++persisted === 2) {
          run.stop();
        }
      }
      const summary = await run.done;
      expect(summary.isInterrupted).toBe(true);
      expect(summary.unacknowledged).toBe(0);
      expect(summary.persisted).toBeGreaterThanOrEqual(3);
    },
  );

  it('an aborted signal stops a recording before it sends anything: done rejects, interrupted', async () => {
    await using kvs = await startLocalKvs();
    const controller = new AbortController();
    controller.abort();
    const run = upload(fileSource(`${FIXTURES}/h264.mkv`), {
      stream: 'aborted',
      create: true,
      endpointUrl: kvs.url,
      region: kvs.region,
      credentials: kvs.credentials,
      signal: controller.signal,
    });
    // Start-up (here its first step) is cut short: there is no upload to summarise.
    await expect(run.done).rejects.toMatchObject({
      code: 'KVS_INTERRUPTED',
      message: 'interrupted while probing the media: nothing was sent',
    });
    expect(run.progress()).toEqual({ fragments: 0, stored: 0, awaitingAcks: 0, unsent: 0 });
  });
});
