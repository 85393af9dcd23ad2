/**
 * Reading the local KVS's media back: the real SDK clients for GetMedia / ListFragments /
 * GetMediaForFragmentList (pointed at the endpoint GetDataEndpoint returns), and the chunks of a GetMedia-style
 * answer as kvs-put's reader sees them.
 */
import { APIName, GetDataEndpointCommand } from '@aws-sdk/client-kinesis-video';
import { KinesisVideoMediaClient } from '@aws-sdk/client-kinesis-video-media';
import { KinesisVideoArchivedMediaClient } from '@aws-sdk/client-kinesis-video-archived-media';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import { MkvReader } from '../../src/mkv/mkv-reader.js';
import type { MkvEvent, MkvSimpleTag } from '../../src/mkv/mkv-types.js';
import { sdkClient } from './emulator-test-helpers.js';
import { sha1Hex } from './put-media-helpers.js';

/** The data endpoint for an API, from GetDataEndpoint. */
export const dataEndpoint = async (kvs: LocalKvs, streamName: string, apiName: APIName): Promise<string> => {
  const client = sdkClient(kvs);
  try {
    const output = await client.send(
      new GetDataEndpointCommand({ StreamName: streamName, APIName: apiName }),
    );
    return output.DataEndpoint!;
  } finally {
    client.destroy();
  }
};

export const mediaClient = async (kvs: LocalKvs, streamName: string): Promise<KinesisVideoMediaClient> =>
  new KinesisVideoMediaClient({
    endpoint: await dataEndpoint(kvs, streamName, APIName.GET_MEDIA),
    region: kvs.region,
    credentials: kvs.credentials,
  });

export const archivedMediaClient = async (
  kvs: LocalKvs,
  streamName: string,
): Promise<KinesisVideoArchivedMediaClient> =>
  new KinesisVideoArchivedMediaClient({
    endpoint: await dataEndpoint(kvs, streamName, APIName.LIST_FRAGMENTS),
    region: kvs.region,
    credentials: kvs.credentials,
  });

/** One chunk (one fragment) of GetMedia-style output. */
export type MediaChunk = {
  headerBytes: Uint8Array | undefined;
  /** The service's tags before the Cluster. */
  head: Record<string, string>;
  /** The service's tags after the Cluster (GetMedia only). */
  tail: Record<string, string>;
  /** The producer's own tags (fragment metadata). */
  producerTags: MkvSimpleTag[];
  clusterTimecode: number | undefined;
  /** sha1 of each frame payload, with its track. */
  frames: { trackNumber: number; sha1: string; isKeyframe: boolean }[];
  /** Event kinds in order, frames collapsed: header, kvs-head, cluster, frames, producer-tags, kvs-tail, end. */
  layout: string[];
};

const isServiceHead = (tags: readonly MkvSimpleTag[]): boolean =>
  tags.some((tag) => tag.name === 'AWS_KINESISVIDEO_SERVER_TIMESTAMP');
const isServiceTail = (tags: readonly MkvSimpleTag[]): boolean =>
  tags.some((tag) => tag.name === 'AWS_KINESISVIDEO_MILLIS_BEHIND_NOW');

/** Splits GetMedia-style bytes into chunks with kvs-put's reader. */
export const readChunks = (bytes: Uint8Array, options: { isTruncated?: boolean } = {}): MediaChunk[] => {
  if (bytes.length === 0) {
    return [];
  }
  const reader = new MkvReader();
  const events: MkvEvent[] = reader.push(bytes);
  try {
    events.push(...reader.end());
  } catch (error) {
    if (options.isTruncated !== true) {
      throw error;
    }
  }
  const chunks: MediaChunk[] = [];
  let chunk: MediaChunk | undefined;
  const mark = (kind: string): void => {
    if (chunk !== undefined && chunk.layout.at(-1) !== kind) {
      chunk.layout.push(kind);
    }
  };
  for (const event of events) {
    switch (event.type) {
      case 'header':
        chunk = {
          headerBytes: event.headerBytes,
          head: {},
          tail: {},
          producerTags: [],
          clusterTimecode: undefined,
          frames: [],
          layout: ['header'],
        };
        chunks.push(chunk);
        break;
      case 'tags': {
        const values = Object.fromEntries(event.tags.map((tag) => [tag.name, tag.value ?? '']));
        if (isServiceHead(event.tags)) {
          Object.assign(chunk!.head, values);
          mark('kvs-head');
        } else if (isServiceTail(event.tags)) {
          Object.assign(chunk!.tail, values);
          mark('kvs-tail');
        } else {
          chunk!.producerTags.push(...event.tags);
          mark('producer-tags');
        }
        break;
      }
      case 'cluster':
        chunk!.clusterTimecode = event.timecode;
        mark('cluster');
        break;
      case 'frame':
        chunk!.frames.push({
          trackNumber: event.frame.trackNumber,
          sha1: sha1Hex(event.frame.data),
          isKeyframe: event.frame.isKeyframe,
        });
        mark('frames');
        break;
      case 'segment-end':
        mark('end');
        break;
    }
  }
  return chunks;
};

/** The layout without the producer's own tags (which differ between producers). */
export const serviceLayout = (chunk: MediaChunk): string[] =>
  chunk.layout.filter((kind) => kind !== 'producer-tags');
