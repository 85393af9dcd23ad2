import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { GetDataEndpointCommand, KinesisVideoClient } from '@aws-sdk/client-kinesis-video';
import { GetMediaCommand, KinesisVideoMediaClient } from '@aws-sdk/client-kinesis-video-media';
import { Fragmenter, fragmentsOf } from '../../src/fragment/fragmenter.js';
import { MkvReader, readMkv } from '../../src/mkv/mkv-reader.js';

export type FrameFact = { track: number; ms: number; key: boolean; sha1: string };

const sha1 = (bytes: Uint8Array): string => createHash('sha1').update(bytes).digest('hex');

/** The frames kvs-put sends for a file at a start time: what the stream must hold afterwards. */
export const expectedFrames = (path: string, startTimeMs: number): FrameFact[] => {
  const reader = new MkvReader();
  const fragmenter = new Fragmenter({ startTimeMs });
  const items = [...reader.push(readFileSync(path)), ...reader.end()].flatMap((event) =>
    fragmenter.push(event),
  );
  items.push(...fragmenter.end());
  return fragmentsOf(items).flatMap((fragment) =>
    fragment.frames.map((frame) => ({
      track: frame.trackNumber,
      ms: fragment.timecode + frame.relativeTimecode,
      key: frame.isKeyframe,
      sha1: sha1(frame.data),
    })),
  );
};

export type LocalKvsAccess = {
  url: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
};

/** GetMedia from the stream's start with the real SDK client (endpoint from GetDataEndpoint). */
export const openGetMedia = async (
  kvs: LocalKvsAccess,
  streamName: string,
): Promise<{ body: Readable; close: () => void }> => {
  const control = new KinesisVideoClient({
    endpoint: kvs.url,
    region: kvs.region,
    credentials: kvs.credentials,
  });
  const { DataEndpoint } = await control.send(
    new GetDataEndpointCommand({ StreamName: streamName, APIName: 'GET_MEDIA' }),
  );
  control.destroy();
  const media = new KinesisVideoMediaClient({
    endpoint: DataEndpoint,
    region: kvs.region,
    credentials: kvs.credentials,
  });
  const output = await media.send(
    new GetMediaCommand({ StreamName: streamName, StartSelector: { StartSelectorType: 'EARLIEST' } }),
  );
  const body = output.Payload as Readable;
  return {
    body,
    close: () => {
      body.destroy();
      media.destroy();
    },
  };
};

export type StoredMedia = { fragments: number; frames: FrameFact[]; fragmentNumbers: string[] };

/** Reads a stream of the local KVS back from its start with the real GetMedia client. */
export const getMediaFrames = async (
  kvs: LocalKvsAccess,
  streamName: string,
  expectedFragments: number,
): Promise<StoredMedia> => {
  const { body, close } = await openGetMedia(kvs, streamName);
  const stored: StoredMedia = { fragments: 0, frames: [], fragmentNumbers: [] };
  let clusterMs = 0;
  for await (const event of readMkv(body)) {
    if (event.type === 'tags') {
      const number = event.tags.find((tag) => tag.name === 'AWS_KINESISVIDEO_FRAGMENT_NUMBER')?.value;
      if (
        number !== undefined &&
        event.tags.some((tag) => tag.name === 'AWS_KINESISVIDEO_SERVER_TIMESTAMP')
      ) {
        stored.fragments++;
        stored.fragmentNumbers.push(number);
      }
      if (
        stored.fragments >= expectedFragments &&
        event.tags.some((tag) => tag.name === 'AWS_KINESISVIDEO_MILLIS_BEHIND_NOW')
      ) {
        break;
      }
    } else if (event.type === 'cluster') {
      clusterMs = event.timestampMs;
    } else if (event.type === 'frame') {
      void clusterMs;
      stored.frames.push({
        track: event.frame.trackNumber,
        ms: event.frame.timestampMs,
        key: event.frame.isKeyframe,
        sha1: sha1(event.frame.data),
      });
    }
  }
  close();
  return stored;
};
