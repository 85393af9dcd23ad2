import { GetMediaCommand, KinesisVideoMediaClient } from '@aws-sdk/client-kinesis-video-media';
import { APIName } from '@aws-sdk/client-kinesis-video';
import type { Readable } from 'node:stream';
import { KvsTag } from '../mkv/kvs-tags.js';
import { readMkv } from '../mkv/mkv-reader.js';
import type { StreamControl, StreamRef } from './stream-control.js';
import { toKvsError } from './stream-control.js';

export type ReadBackResult = { fragments: number; frames: number; fragmentNumbers: string[] };

/**
 * Reads a stream back with GetMedia from the fragment holding producer time `fromProducerMs` and counts
 * fragments and frames, stopping after `expectedFragments` or when the service ends the response.
 */
export const readBack = async (
  control: StreamControl,
  ref: StreamRef,
  fromProducerMs: number,
  expectedFragments: number,
): Promise<ReadBackResult> => {
  const endpoint = await control.dataEndpoint(ref, APIName.GET_MEDIA);
  const client = new KinesisVideoMediaClient({
    endpoint,
    region: await control.region(),
    credentials: control.client.config.credentials,
  });
  const result: ReadBackResult = { fragments: 0, frames: 0, fragmentNumbers: [] };
  try {
    const output = await client.send(
      new GetMediaCommand({
        ...(ref.streamArn === undefined ? { StreamName: ref.streamName } : { StreamARN: ref.streamArn }),
        StartSelector: { StartSelectorType: 'PRODUCER_TIMESTAMP', StartTimestamp: new Date(fromProducerMs) },
      }),
    );
    const body = output.Payload as Readable | undefined;
    if (body === undefined) {
      return result;
    }
    for await (const event of readMkv(body)) {
      if (event.type === 'tags') {
        const number = event.tags.find((tag) => tag.name === KvsTag.FragmentNumber)?.value;
        const isHeaderTag = event.tags.some((tag) => tag.name === KvsTag.ServerTimestamp);
        if (number !== undefined && isHeaderTag) {
          result.fragments++;
          result.fragmentNumbers.push(number);
        }
        // The tags after a chunk's cluster close it: stop once the last expected fragment is complete.
        const isTrailer = event.tags.some((tag) => tag.name === KvsTag.MillisBehindNow);
        if (isTrailer && result.fragments >= expectedFragments) {
          break;
        }
      } else if (event.type === 'frame') {
        result.frames++;
      }
    }
    body.destroy();
  } catch (error) {
    throw toKvsError(error, 'GetMedia');
  } finally {
    client.destroy();
  }
  return result;
};
