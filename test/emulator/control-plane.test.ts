// The control plane, driven by the real @aws-sdk/client-kinesis-video client: successes and typed errors.
import {
  AccountStreamLimitExceededException,
  CreateSignalingChannelCommand,
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamCommand,
  DescribeStreamStorageConfigurationCommand,
  GetDataEndpointCommand,
  InvalidArgumentException,
  InvalidResourceFormatException,
  KinesisVideoServiceException,
  ListStreamsCommand,
  ListTagsForResourceCommand,
  ListTagsForStreamCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  TagResourceCommand,
  TagStreamCommand,
  TagsPerResourceExceededLimitException,
  UntagResourceCommand,
  UntagStreamCommand,
  UpdateDataRetentionCommand,
  UpdateStreamCommand,
  UpdateStreamStorageConfigurationCommand,
  VersionMismatchException,
  paginateListStreams,
} from '@aws-sdk/client-kinesis-video';
import type { APIName, KinesisVideoClient, StreamInfo } from '@aws-sdk/client-kinesis-video';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import type { TestClock } from './emulator-test-helpers.js';
import { rejectionOf, sdkClient, signedPost, startTestKvs, testClock } from './emulator-test-helpers.js';

const NOT_FOUND = 'The requested stream is not found or not active.';
const ALL_API_NAMES: APIName[] = [
  'PUT_MEDIA',
  'GET_MEDIA',
  'LIST_FRAGMENTS',
  'GET_MEDIA_FOR_FRAGMENT_LIST',
  'GET_HLS_STREAMING_SESSION_URL',
  'GET_DASH_STREAMING_SESSION_URL',
  'GET_CLIP',
  'GET_IMAGES',
];

let kvs: LocalKvs & { logLines: string[] };
let client: KinesisVideoClient;
let clock: TestClock;

beforeEach(async () => {
  clock = testClock(Math.floor(Date.now() / 1000) * 1000 + 123);
  kvs = await startTestKvs({ clock });
  client = sdkClient(kvs);
});

afterEach(async () => {
  client.destroy();
  await kvs.close();
});

const describeStream = async (streamName: string): Promise<StreamInfo> => {
  const output = await client.send(new DescribeStreamCommand({ StreamName: streamName }));
  return output.StreamInfo!;
};

describe('CreateStream and DescribeStream', () => {
  it('creates an ACTIVE stream with a real-looking ARN, version and defaults', async () => {
    const created = await client.send(
      new CreateStreamCommand({
        StreamName: 'cam-1',
        MediaType: 'video/h264',
        DataRetentionInHours: 2,
        DeviceName: 'Kinesis_Video_Device',
      }),
    );
    expect(created.StreamARN).toBe(`arn:aws:kinesisvideo:us-east-1:123456789012:stream/cam-1/${clock.now()}`);
    expect(created.$metadata.httpStatusCode).toBe(200);
    expect(created.$metadata.requestId).toMatch(/^[0-9a-f-]{36}$/);

    const info = await describeStream('cam-1');
    expect(info).toEqual({
      DeviceName: 'Kinesis_Video_Device',
      StreamName: 'cam-1',
      StreamARN: created.StreamARN,
      MediaType: 'video/h264',
      KmsKeyId: 'arn:aws:kms:us-east-1:123456789012:alias/aws/kinesisvideo',
      Version: expect.stringMatching(/^[A-Za-z0-9]{20}$/),
      Status: 'ACTIVE',
      CreationTime: new Date(clock.now()),
      DataRetentionInHours: 2,
    });
    const byArn = await client.send(new DescribeStreamCommand({ StreamARN: created.StreamARN }));
    expect(byArn.StreamInfo).toEqual(info);
  });

  it('sends epoch-number timestamps, x-amzn-RequestId and Date on the wire', async () => {
    await client.send(new CreateStreamCommand({ StreamName: 'wire' }));
    const response = await signedPost(kvs, '/describeStream', { StreamName: 'wire' });
    expect(response.status).toBe(200);
    const info = response.body['StreamInfo'] as Record<string, unknown>;
    expect(info['CreationTime']).toBe(clock.now() / 1000);
    expect(typeof info['CreationTime']).toBe('number');
    expect(info).not.toHaveProperty('MediaType');
    expect(info['DataRetentionInHours']).toBe(0);
    expect(response.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('date')).toBe(new Date(clock.now()).toUTCString());
    expect(response.headers.get('content-type')).toBe('application/json');
  });

  it('refuses a second stream with the same name: ResourceInUseException 400', async () => {
    await client.send(new CreateStreamCommand({ StreamName: 'dup' }));
    const error = await rejectionOf(client.send(new CreateStreamCommand({ StreamName: 'dup' })));
    expect(error).toBeInstanceOf(ResourceInUseException);
    expect(error.$metadata?.httpStatusCode).toBe(400);
    expect(error.message).toBe('The stream dup already exists.');
  });

  it('validates every member with AWS-style messages: InvalidArgumentException', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [
        {},
        "1 validation error detected: Value null at 'streamName' failed to satisfy constraint: Member must not be null",
      ],
      [
        { StreamName: 'bad name!' },
        "1 validation error detected: Value 'bad name!' at 'streamName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+",
      ],
      [
        { StreamName: 'x'.repeat(257) },
        `1 validation error detected: Value '${'x'.repeat(257)}' at 'streamName' failed to satisfy constraint: Member must have length less than or equal to 256`,
      ],
      [
        { StreamName: 'ok', DataRetentionInHours: -5 },
        "1 validation error detected: Value '-5' at 'dataRetentionInHours' failed to satisfy constraint: Member must have value greater than or equal to 0",
      ],
      [
        { StreamName: 'ok', DataRetentionInHours: 87_601 },
        "1 validation error detected: Value '87601' at 'dataRetentionInHours' failed to satisfy constraint: Member must have value less than or equal to 87600",
      ],
      [
        { StreamName: 'ok', MediaType: 'h264' },
        "1 validation error detected: Value 'h264' at 'mediaType' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w\\-\\.\\+]+/[\\w\\-\\.\\+]+(,[\\w\\-\\.\\+]+/[\\w\\-\\.\\+]+)*",
      ],
      [
        { StreamName: 'ok', StreamStorageConfiguration: { DefaultStorageTier: 'COLD' } },
        "1 validation error detected: Value 'COLD' at 'streamStorageConfiguration.defaultStorageTier' failed to satisfy constraint: Member must satisfy enum value set: [HOT, WARM]",
      ],
      [
        { StreamName: 'ok', Tags: { 'aws:owner': 'me' } },
        "1 validation error detected: Value 'aws:owner' at 'tags' failed to satisfy constraint: Tag keys must not begin with the reserved prefix 'aws:'",
      ],
    ];
    for (const [input, message] of cases) {
      const error = await rejectionOf(client.send(new CreateStreamCommand(input as never)));
      expect(error, JSON.stringify(input)).toBeInstanceOf(InvalidArgumentException);
      expect(error.message).toBe(message);
    }
    const several = await rejectionOf(
      client.send(new CreateStreamCommand({ StreamName: 'a b', DeviceName: '', DataRetentionInHours: -1 })),
    );
    expect(several.message).toMatch(
      /^3 validation errors detected: Value 'a b' at 'streamName'.*; Value '' at 'deviceName'.*; Value '-1' at 'dataRetentionInHours'/,
    );
  });

  it('refuses 51 tags and tag values that break the pattern', async () => {
    const tags = Object.fromEntries(Array.from({ length: 51 }, (_, index) => [`k${index}`, 'v']));
    const tooMany = await rejectionOf(
      client.send(new CreateStreamCommand({ StreamName: 'tags', Tags: tags })),
    );
    expect(tooMany).toBeInstanceOf(InvalidArgumentException);
    expect(tooMany.message).toContain(
      "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50",
    );
    const badValue = await rejectionOf(
      client.send(new CreateStreamCommand({ StreamName: 'tags', Tags: { team: 'a|b' } })),
    );
    expect(badValue.message).toContain(
      'Map value must satisfy constraint: [Member must satisfy regular expression pattern',
    );
  });

  it('answers 404 ResourceNotFoundException for unknown streams, with the service text', async () => {
    const error = await rejectionOf(client.send(new DescribeStreamCommand({ StreamName: 'nope' })));
    expect(error).toBeInstanceOf(ResourceNotFoundException);
    expect(error).toBeInstanceOf(KinesisVideoServiceException);
    expect(error.name).toBe('ResourceNotFoundException');
    expect(error.message).toBe(NOT_FOUND);
    expect(error.$metadata?.httpStatusCode).toBe(404);
    expect(error.$fault).toBe('client');

    const byArn = await rejectionOf(
      client.send(
        new DescribeStreamCommand({ StreamARN: 'arn:aws:kinesisvideo:us-east-1:123456789012:stream/nope/1' }),
      ),
    );
    expect(byArn).toBeInstanceOf(ResourceNotFoundException);
  });

  it('needs StreamName or StreamARN, naming the same stream', async () => {
    const a = await client.send(new CreateStreamCommand({ StreamName: 'a' }));
    await client.send(new CreateStreamCommand({ StreamName: 'b' }));
    const neither = await rejectionOf(client.send(new DescribeStreamCommand({})));
    expect(neither).toBeInstanceOf(InvalidArgumentException);
    const mismatch = await rejectionOf(
      client.send(new DescribeStreamCommand({ StreamName: 'b', StreamARN: a.StreamARN })),
    );
    expect(mismatch).toBeInstanceOf(InvalidArgumentException);
    const both = await client.send(new DescribeStreamCommand({ StreamName: 'a', StreamARN: a.StreamARN }));
    expect(both.StreamInfo?.StreamName).toBe('a');
    const malformed = await rejectionOf(
      client.send(new DescribeStreamCommand({ StreamARN: 'arn:aws:s3:::bucket' })),
    );
    expect(malformed).toBeInstanceOf(InvalidArgumentException);
    expect(malformed.message).toContain(
      "at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern",
    );
  });

  it('answers 400 SerializationException for a body it cannot read', async () => {
    const wrongType = await signedPost(kvs, '/createStream', { StreamName: 42 });
    expect(wrongType.status).toBe(400);
    expect(wrongType.headers.get('x-amzn-errortype')).toBe('SerializationException');
    expect(wrongType.body).toEqual({ Message: "Unexpected value type at 'streamName': expected a string." });
  });
});

describe('lifecycle delays (CREATING, UPDATING, DELETING) on the injected clock', () => {
  it('CREATING → ACTIVE after creatingDelayMs; busy streams refuse updates; GetDataEndpoint waits for ACTIVE', async () => {
    await kvs.close();
    kvs = await startTestKvs({ clock, creatingDelayMs: 3000, updatingDelayMs: 1000, deletingDelayMs: 2000 });
    client.destroy();
    client = sdkClient(kvs);

    const { StreamARN } = await client.send(new CreateStreamCommand({ StreamName: 'slow' }));
    let info = await describeStream('slow');
    expect(info.Status).toBe('CREATING');
    expect(
      await rejectionOf(
        client.send(new GetDataEndpointCommand({ StreamName: 'slow', APIName: 'PUT_MEDIA' })),
      ),
    ).toBeInstanceOf(ResourceNotFoundException);
    const busy = await rejectionOf(
      client.send(
        new UpdateStreamCommand({
          StreamName: 'slow',
          CurrentVersion: info.Version,
          MediaType: 'video/h265',
        }),
      ),
    );
    expect(busy).toBeInstanceOf(ResourceInUseException);

    clock.advance(3000);
    info = await describeStream('slow');
    expect(info.Status).toBe('ACTIVE');

    await client.send(
      new UpdateStreamCommand({ StreamName: 'slow', CurrentVersion: info.Version, MediaType: 'video/h265' }),
    );
    info = await describeStream('slow');
    expect(info.Status).toBe('UPDATING');
    expect(info.MediaType).toBe('video/h265');
    // An UPDATING stream still has a data endpoint.
    expect(
      (await client.send(new GetDataEndpointCommand({ StreamName: 'slow', APIName: 'GET_MEDIA' })))
        .DataEndpoint,
    ).toBe(kvs.url);
    clock.advance(1000);
    expect((await describeStream('slow')).Status).toBe('ACTIVE');

    await client.send(new DeleteStreamCommand({ StreamARN }));
    expect((await describeStream('slow')).Status).toBe('DELETING');
    expect(
      (await client.send(new ListStreamsCommand({}))).StreamInfoList?.map((stream) => stream.Status),
    ).toEqual(['DELETING']);
    expect(await rejectionOf(client.send(new DeleteStreamCommand({ StreamARN })))).toBeInstanceOf(
      ResourceInUseException,
    );
    expect(
      await rejectionOf(client.send(new GetDataEndpointCommand({ StreamARN, APIName: 'PUT_MEDIA' }))),
    ).toBeInstanceOf(ResourceNotFoundException);
    expect(await rejectionOf(client.send(new CreateStreamCommand({ StreamName: 'slow' })))).toBeInstanceOf(
      ResourceInUseException,
    );
    clock.advance(2000);
    expect(await rejectionOf(client.send(new DescribeStreamCommand({ StreamName: 'slow' })))).toBeInstanceOf(
      ResourceNotFoundException,
    );
    await client.send(new CreateStreamCommand({ StreamName: 'slow' }));
  });
});

describe('ListStreams', () => {
  it('lists in creation order, filters by prefix, and pages with NextToken (SDK paginator)', async () => {
    for (const name of ['cam-b', 'cam-a', 'door', 'cam-c', 'cam-d']) {
      await client.send(new CreateStreamCommand({ StreamName: name }));
      clock.advance(10);
    }
    const all = await client.send(new ListStreamsCommand({}));
    expect(all.StreamInfoList?.map((stream) => stream.StreamName)).toEqual([
      'cam-b',
      'cam-a',
      'door',
      'cam-c',
      'cam-d',
    ]);
    expect(all.NextToken).toBeUndefined();

    const cams = await client.send(
      new ListStreamsCommand({
        StreamNameCondition: { ComparisonOperator: 'BEGINS_WITH', ComparisonValue: 'cam-' },
      }),
    );
    expect(cams.StreamInfoList?.map((stream) => stream.StreamName)).toEqual([
      'cam-b',
      'cam-a',
      'cam-c',
      'cam-d',
    ]);

    const first = await client.send(new ListStreamsCommand({ MaxResults: 2 }));
    expect(first.StreamInfoList).toHaveLength(2);
    expect(first.NextToken).toMatch(/^[a-zA-Z0-9+/=]+$/);

    const pages: string[][] = [];
    for await (const page of paginateListStreams(
      { client, pageSize: 2 },
      { StreamNameCondition: { ComparisonOperator: 'BEGINS_WITH', ComparisonValue: 'cam' } },
    )) {
      pages.push(page.StreamInfoList?.map((stream) => stream.StreamName ?? '') ?? []);
    }
    expect(pages).toEqual([
      ['cam-b', 'cam-a'],
      ['cam-c', 'cam-d'],
    ]);
  });

  it('validates MaxResults, NextToken and the name condition', async () => {
    expect(await rejectionOf(client.send(new ListStreamsCommand({ MaxResults: 0 })))).toBeInstanceOf(
      InvalidArgumentException,
    );
    expect(await rejectionOf(client.send(new ListStreamsCommand({ MaxResults: 10_001 })))).toBeInstanceOf(
      InvalidArgumentException,
    );
    expect(
      await rejectionOf(client.send(new ListStreamsCommand({ NextToken: 'not a token!' }))),
    ).toBeInstanceOf(InvalidArgumentException);
    const forged = await rejectionOf(
      client.send(new ListStreamsCommand({ NextToken: Buffer.from('garbage').toString('base64') })),
    );
    expect(forged).toBeInstanceOf(InvalidArgumentException);
    expect(forged.message).toBe('The NextToken is not valid.');
    const operator = await rejectionOf(
      client.send(
        new ListStreamsCommand({
          StreamNameCondition: { ComparisonOperator: 'ENDS_WITH' as never, ComparisonValue: 'x' },
        }),
      ),
    );
    expect(operator.message).toContain(
      "at 'streamNameCondition.comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [BEGINS_WITH]",
    );
  });
});

describe('DeleteStream', () => {
  it('deletes by ARN, checking CurrentVersion when given', async () => {
    const { StreamARN } = await client.send(new CreateStreamCommand({ StreamName: 'gone' }));
    const version = (await describeStream('gone')).Version;
    const mismatch = await rejectionOf(
      client.send(new DeleteStreamCommand({ StreamARN, CurrentVersion: 'abc123' })),
    );
    expect(mismatch).toBeInstanceOf(VersionMismatchException);
    expect(mismatch.$metadata?.httpStatusCode).toBe(400);

    const output = await client.send(new DeleteStreamCommand({ StreamARN, CurrentVersion: version }));
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(await rejectionOf(client.send(new DescribeStreamCommand({ StreamName: 'gone' })))).toBeInstanceOf(
      ResourceNotFoundException,
    );
    expect(await rejectionOf(client.send(new DeleteStreamCommand({ StreamARN })))).toBeInstanceOf(
      ResourceNotFoundException,
    );
  });

  it('needs the ARN: a name alone is an InvalidArgumentException', async () => {
    await client.send(new CreateStreamCommand({ StreamName: 'named' }));
    const response = await signedPost(kvs, '/deleteStream', { StreamName: 'named' });
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('InvalidArgumentException');
    expect(response.body['Message']).toBe(
      "1 validation error detected: Value null at 'streamARN' failed to satisfy constraint: Member must not be null",
    );
  });
});

describe('UpdateStream and UpdateDataRetention', () => {
  it('UpdateStream changes device and media type and assigns a new Version', async () => {
    await client.send(new CreateStreamCommand({ StreamName: 'up', MediaType: 'video/h264' }));
    const before = await describeStream('up');
    await client.send(
      new UpdateStreamCommand({
        StreamName: 'up',
        CurrentVersion: before.Version,
        DeviceName: 'pi',
        MediaType: 'video/h264,audio/aac',
      }),
    );
    const after = await describeStream('up');
    expect(after).toMatchObject({ DeviceName: 'pi', MediaType: 'video/h264,audio/aac', Status: 'ACTIVE' });
    expect(after.Version).not.toBe(before.Version);
    expect(
      await rejectionOf(
        client.send(new UpdateStreamCommand({ StreamName: 'up', CurrentVersion: before.Version })),
      ),
    ).toBeInstanceOf(VersionMismatchException);
    const missing = await rejectionOf(client.send(new UpdateStreamCommand({ StreamName: 'up' } as never)));
    expect(missing).toBeInstanceOf(InvalidArgumentException);
    expect(missing.message).toContain("Value null at 'currentVersion'");
    expect(
      await rejectionOf(client.send(new UpdateStreamCommand({ StreamName: 'none', CurrentVersion: 'x' }))),
    ).toBeInstanceOf(ResourceNotFoundException);
  });

  it('UpdateDataRetention increases and decreases within 0..87600 hours', async () => {
    const { StreamARN } = await client.send(
      new CreateStreamCommand({ StreamName: 'ret', DataRetentionInHours: 24 }),
    );
    const retention = async (): Promise<StreamInfo> => describeStream('ret');
    let info = await retention();
    await client.send(
      new UpdateDataRetentionCommand({
        StreamARN,
        CurrentVersion: info.Version,
        Operation: 'INCREASE_DATA_RETENTION',
        DataRetentionChangeInHours: 100,
      }),
    );
    const increased = await retention();
    expect(increased.DataRetentionInHours).toBe(124);
    expect(increased.Version).not.toBe(info.Version);
    info = increased;

    const belowZero = await rejectionOf(
      client.send(
        new UpdateDataRetentionCommand({
          StreamName: 'ret',
          CurrentVersion: info.Version,
          Operation: 'DECREASE_DATA_RETENTION',
          DataRetentionChangeInHours: 125,
        }),
      ),
    );
    expect(belowZero).toBeInstanceOf(InvalidArgumentException);
    const aboveMax = await rejectionOf(
      client.send(
        new UpdateDataRetentionCommand({
          StreamName: 'ret',
          CurrentVersion: info.Version,
          Operation: 'INCREASE_DATA_RETENTION',
          DataRetentionChangeInHours: 87_477,
        }),
      ),
    );
    expect(aboveMax).toBeInstanceOf(InvalidArgumentException);
    expect(aboveMax.message).toContain('87601');

    await client.send(
      new UpdateDataRetentionCommand({
        StreamName: 'ret',
        CurrentVersion: info.Version,
        Operation: 'DECREASE_DATA_RETENTION',
        DataRetentionChangeInHours: 124,
      }),
    );
    expect((await retention()).DataRetentionInHours).toBe(0);

    const stale = await rejectionOf(
      client.send(
        new UpdateDataRetentionCommand({
          StreamName: 'ret',
          CurrentVersion: info.Version,
          Operation: 'INCREASE_DATA_RETENTION',
          DataRetentionChangeInHours: 1,
        }),
      ),
    );
    expect(stale).toBeInstanceOf(VersionMismatchException);
    const zero = await rejectionOf(
      client.send(
        new UpdateDataRetentionCommand({
          StreamName: 'ret',
          CurrentVersion: 'v',
          Operation: 'INCREASE_DATA_RETENTION',
          DataRetentionChangeInHours: 0,
        }),
      ),
    );
    expect(zero.message).toContain(
      "Value '0' at 'dataRetentionChangeInHours' failed to satisfy constraint: Member must have value greater than or equal to 1",
    );
    const badOperation = await rejectionOf(
      client.send(
        new UpdateDataRetentionCommand({
          StreamName: 'ret',
          CurrentVersion: 'v',
          Operation: 'DOUBLE' as never,
          DataRetentionChangeInHours: 1,
        }),
      ),
    );
    expect(badOperation.message).toContain(
      'Member must satisfy enum value set: [INCREASE_DATA_RETENTION, DECREASE_DATA_RETENTION]',
    );
  });
});

describe('GetDataEndpoint', () => {
  it('returns this same server (no path) for every APIName, by name or ARN', async () => {
    const { StreamARN } = await client.send(new CreateStreamCommand({ StreamName: 'ep' }));
    for (const apiName of ALL_API_NAMES) {
      const byName = await client.send(new GetDataEndpointCommand({ StreamName: 'ep', APIName: apiName }));
      expect(byName.DataEndpoint, apiName).toBe(kvs.url);
      const byArn = await client.send(new GetDataEndpointCommand({ StreamARN, APIName: apiName }));
      expect(byArn.DataEndpoint, apiName).toBe(kvs.url);
    }
    expect(new URL(kvs.url).pathname).toBe('/');
  });

  it('validates APIName and the stream', async () => {
    await client.send(new CreateStreamCommand({ StreamName: 'ep' }));
    const badName = await rejectionOf(
      client.send(new GetDataEndpointCommand({ StreamName: 'ep', APIName: 'PUT_CLIP' as APIName })),
    );
    expect(badName).toBeInstanceOf(InvalidArgumentException);
    expect(badName.message).toContain(
      "at 'aPIName' failed to satisfy constraint: Member must satisfy enum value set: [PUT_MEDIA, GET_MEDIA,",
    );
    const missing = await rejectionOf(client.send(new GetDataEndpointCommand({ StreamName: 'ep' } as never)));
    expect(missing.message).toContain("Value null at 'aPIName'");
    expect(
      await rejectionOf(
        client.send(new GetDataEndpointCommand({ StreamName: 'other', APIName: 'PUT_MEDIA' })),
      ),
    ).toBeInstanceOf(ResourceNotFoundException);
  });
});

describe('tagging', () => {
  it('TagStream / ListTagsForStream / UntagStream by name and by ARN', async () => {
    const { StreamARN } = await client.send(
      new CreateStreamCommand({ StreamName: 'tagged', Tags: { team: 'video', env: 'dev' } }),
    );
    const versionBefore = (await describeStream('tagged')).Version;
    expect((await client.send(new ListTagsForStreamCommand({ StreamName: 'tagged' }))).Tags).toEqual({
      team: 'video',
      env: 'dev',
    });

    await client.send(new TagStreamCommand({ StreamARN, Tags: { env: 'prod', 'cost:centre': '42' } }));
    expect((await client.send(new ListTagsForStreamCommand({ StreamARN }))).Tags).toEqual({
      team: 'video',
      env: 'prod',
      'cost:centre': '42',
    });

    await client.send(new UntagStreamCommand({ StreamName: 'tagged', TagKeyList: ['team', 'unknown-key'] }));
    const listed = await client.send(new ListTagsForStreamCommand({ StreamName: 'tagged' }));
    expect(listed.Tags).toEqual({ env: 'prod', 'cost:centre': '42' });
    expect(listed.NextToken).toBeUndefined();
    // Tags are not stream metadata: the Version stays.
    expect((await describeStream('tagged')).Version).toBe(versionBefore);
  });

  it('enforces 50 tags per stream, tag ARN format, and list sizes', async () => {
    await client.send(
      new CreateStreamCommand({
        StreamName: 'many',
        Tags: Object.fromEntries(Array.from({ length: 40 }, (_, index) => [`a${index}`, 'x'])),
      }),
    );
    const overflow = await rejectionOf(
      client.send(
        new TagStreamCommand({
          StreamName: 'many',
          Tags: Object.fromEntries(Array.from({ length: 11 }, (_, index) => [`b${index}`, 'y'])),
        }),
      ),
    );
    expect(overflow).toBeInstanceOf(TagsPerResourceExceededLimitException);
    expect(overflow.$metadata?.httpStatusCode).toBe(400);
    // Overwriting existing keys does not count twice.
    await client.send(
      new TagStreamCommand({
        StreamName: 'many',
        Tags: Object.fromEntries(Array.from({ length: 10 }, (_, index) => [`a${index}`, 'z'])),
      }),
    );

    const channelArn = 'arn:aws:kinesisvideo:us-east-1:123456789012:channel/door/1700000000000';
    expect(
      await rejectionOf(client.send(new TagStreamCommand({ StreamARN: channelArn, Tags: { a: 'b' } }))),
    ).toBeInstanceOf(InvalidResourceFormatException);
    expect(
      await rejectionOf(client.send(new TagStreamCommand({ StreamName: 'many', Tags: {} }))),
    ).toBeInstanceOf(InvalidArgumentException);
    expect(
      await rejectionOf(client.send(new UntagStreamCommand({ StreamName: 'many', TagKeyList: [] }))),
    ).toBeInstanceOf(InvalidArgumentException);
    expect(
      await rejectionOf(client.send(new ListTagsForStreamCommand({ StreamName: 'ghost' }))),
    ).toBeInstanceOf(ResourceNotFoundException);
  });

  it('TagResource / UntagResource / ListTagsForResource work on stream ARNs', async () => {
    const { StreamARN } = await client.send(new CreateStreamCommand({ StreamName: 'res' }));
    await client.send(
      new TagResourceCommand({
        ResourceARN: StreamARN,
        Tags: [
          { Key: 'a', Value: '1' },
          { Key: 'b', Value: '2' },
        ],
      }),
    );
    expect((await client.send(new ListTagsForResourceCommand({ ResourceARN: StreamARN }))).Tags).toEqual({
      a: '1',
      b: '2',
    });
    expect((await client.send(new ListTagsForStreamCommand({ StreamName: 'res' }))).Tags).toEqual({
      a: '1',
      b: '2',
    });
    await client.send(new UntagResourceCommand({ ResourceARN: StreamARN, TagKeyList: ['a'] }));
    expect((await client.send(new ListTagsForResourceCommand({ ResourceARN: StreamARN }))).Tags).toEqual({
      b: '2',
    });

    const missingValue = await rejectionOf(
      client.send(new TagResourceCommand({ ResourceARN: StreamARN, Tags: [{ Key: 'c' } as never] })),
    );
    expect(missingValue.message).toContain("Value null at 'tags.1.member.value'");
    const channel = await rejectionOf(
      client.send(
        new ListTagsForResourceCommand({
          ResourceARN: 'arn:aws:kinesisvideo:us-east-1:123456789012:channel/x/1',
        }),
      ),
    );
    expect(channel).toBeInstanceOf(ResourceNotFoundException);
    expect(
      await rejectionOf(client.send(new UntagResourceCommand({ ResourceARN: 'nope', TagKeyList: ['a'] }))),
    ).toBeInstanceOf(InvalidArgumentException);
  });
});

describe('storage configuration, unsupported and unknown operations', () => {
  it('DescribeStreamStorageConfiguration / UpdateStreamStorageConfiguration', async () => {
    await client.send(
      new CreateStreamCommand({
        StreamName: 'tier',
        StreamStorageConfiguration: { DefaultStorageTier: 'WARM' },
      }),
    );
    const described = await client.send(
      new DescribeStreamStorageConfigurationCommand({ StreamName: 'tier' }),
    );
    expect(described.StreamStorageConfiguration).toEqual({ DefaultStorageTier: 'WARM' });
    const { Version } = await describeStream('tier');
    await client.send(
      new UpdateStreamStorageConfigurationCommand({
        StreamName: 'tier',
        CurrentVersion: Version,
        StreamStorageConfiguration: { DefaultStorageTier: 'HOT' },
      }),
    );
    expect(
      (await client.send(new DescribeStreamStorageConfigurationCommand({ StreamName: 'tier' })))
        .StreamStorageConfiguration,
    ).toEqual({
      DefaultStorageTier: 'HOT',
    });
  });

  it('answers unimplemented model operations with 400 InvalidArgumentException, unknown paths with 404', async () => {
    const unsupported = await rejectionOf(
      client.send(new CreateSignalingChannelCommand({ ChannelName: 'c' })),
    );
    expect(unsupported).toBeInstanceOf(InvalidArgumentException);
    expect(unsupported.message).toBe(
      'CreateSignalingChannel is not supported by the local KVS (kvs-put local) yet.',
    );
    const unknown = await signedPost(kvs, '/launchRockets', {});
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');
  });
});

describe('accounts and regions', () => {
  it('keeps streams per region; ARNs of another region are not found', async () => {
    const west = sdkClient(kvs, { region: 'eu-west-1' });
    try {
      const { StreamARN } = await west.send(new CreateStreamCommand({ StreamName: 'same' }));
      expect(StreamARN).toMatch(/^arn:aws:kinesisvideo:eu-west-1:123456789012:stream\/same\/\d+$/);
      const { StreamARN: eastArn } = await client.send(new CreateStreamCommand({ StreamName: 'same' }));
      expect(eastArn).toContain(':us-east-1:');
      expect((await west.send(new ListStreamsCommand({}))).StreamInfoList).toHaveLength(1);
      expect(await rejectionOf(client.send(new DescribeStreamCommand({ StreamARN })))).toBeInstanceOf(
        ResourceNotFoundException,
      );
      const china = sdkClient(kvs, { region: 'cn-north-1' });
      expect((await china.send(new CreateStreamCommand({ StreamName: 'cn' }))).StreamARN).toMatch(
        /^arn:aws-cn:kinesisvideo:cn-north-1:/,
      );
      china.destroy();
    } finally {
      west.destroy();
    }
  });

  it('refuses more streams than the account limit: AccountStreamLimitExceededException', async () => {
    await kvs.close();
    kvs = await startTestKvs({ maxStreamsPerAccount: 2, accountId: '210987654321' });
    client.destroy();
    client = sdkClient(kvs);
    const { StreamARN } = await client.send(new CreateStreamCommand({ StreamName: 's1' }));
    expect(StreamARN).toContain(':210987654321:stream/s1/');
    await client.send(new CreateStreamCommand({ StreamName: 's2' }));
    expect(await rejectionOf(client.send(new CreateStreamCommand({ StreamName: 's3' })))).toBeInstanceOf(
      AccountStreamLimitExceededException,
    );
  });
});
