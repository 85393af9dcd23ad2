import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { EbmlId } from '../../src/mkv/ebml-ids.js';
import { MkvParseError } from '../../src/mkv/mkv-errors.js';
import { MkvReader, readMkv } from '../../src/mkv/mkv-reader.js';
import type { MkvEvent, MkvFrame } from '../../src/mkv/mkv-types.js';
import {
  type Part,
  chunksOf,
  concat,
  ebmlHeader,
  el,
  floatEl,
  frames,
  infoEl,
  master,
  payload,
  readAll,
  readAllSettled,
  readScribbled,
  serializeEvents,
  sha1,
  simpleBlock,
  splitAt,
  stringEl,
  tagsEl,
  tracksEl,
  uintEl,
  unknownSize,
} from './mkv-test-helpers.js';

/** Reads `bytes` in one chunk and in 1-byte chunks, checks both agree, returns the events. */
const read = (bytes: Uint8Array): MkvEvent[] => {
  const events = readAll([bytes]);
  expect(serializeEvents(readAll(chunksOf(bytes, 1)))).toEqual(serializeEvents(events));
  return events;
};

/** Reads `bytes` expecting an MkvParseError (whatever the chunking) and returns it. */
const readError = (bytes: Uint8Array): MkvParseError => {
  const whole = readAllSettled([bytes]).error;
  const split = readAllSettled(chunksOf(bytes, 1)).error;
  expect(whole).toBeInstanceOf(MkvParseError);
  expect(split).toBeInstanceOf(MkvParseError);
  expect((split as MkvParseError).message).toBe((whole as MkvParseError).message);
  return whole as MkvParseError;
};

/** An async source that yields between chunks, like a socket. */
async function* asyncChunks(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) {
    await new Promise((resolve) => setImmediate(resolve));
    yield chunk;
  }
}

const types = (events: readonly MkvEvent[]): string[] => events.map((event) => event.type);

/** EBML header + unknown-size Segment + Info + Tracks (1 video track, 40 ms DefaultDuration). */
const headerParts = (): Uint8Array[] => [
  ebmlHeader(),
  unknownSize(EbmlId.Segment),
  infoEl(),
  tracksEl({ number: 1, defaultDurationNs: 40_000_000 }),
];

const clusterWith = (timecode: number, ...children: Part[]): Uint8Array =>
  unknownSize(EbmlId.Cluster, uintEl(EbmlId.Timecode, timecode), ...children);

describe('MkvReader: a PutMedia-shaped stream', () => {
  const head = concat(...headerParts());
  const cluster = clusterWith(
    1000,
    simpleBlock(1, 0, 0x80, payload(10, 1)),
    simpleBlock(1, 40, 0x00, payload(20, 2)),
    simpleBlock(1, 80, 0x00, payload(30, 3)),
  );
  const stream = concat(head, cluster);

  it('yields header, cluster, frames and segment-end with absolute offsets', () => {
    const events = read(stream);
    expect(types(events)).toEqual(['header', 'cluster', 'frame', 'frame', 'frame', 'segment-end']);
    const [header, clusterEvent] = events;
    expect(header).toMatchObject({ type: 'header', byteOffset: 0 });
    expect(clusterEvent).toEqual({
      type: 'cluster',
      timecode: 1000,
      timestampMs: 1000,
      byteOffset: head.length,
    });
    expect(events.at(-1)).toEqual({ type: 'segment-end', byteOffset: stream.length });
    expect(
      frames(events).map((frame) => [frame.timecode, frame.timestampMs, frame.durationMs, frame.isKeyframe]),
    ).toEqual([
      [1000, 1000, 40, true],
      [1040, 1040, 40, false],
      [1080, 1080, 40, false],
    ]);
    expect([...frames(events)[1]!.data]).toEqual([...payload(20, 2)]);
  });

  it('reports the header fields and the exact media header bytes', () => {
    const events = read(stream);
    const header = events[0]!;
    if (header.type !== 'header') {
      throw new Error('expected a header event');
    }
    expect(header.header).toEqual({
      docType: 'matroska',
      docTypeVersion: 2,
      timecodeScaleNs: 1_000_000,
      muxingApp: 'test',
      tracks: [{ number: 1, uid: 1n, type: 1, codecId: 'V_MPEG4/ISO/AVC', defaultDurationNs: 40_000_000 }],
    });
    // Everything from the EBML header start up to (not including) the first Cluster.
    expect(header.headerBytes).toEqual(head);
  });

  it('gives frames as zero-copy views when the block lies in one chunk', () => {
    const reader = new MkvReader();
    const events = reader.push(stream);
    const frame = frames(events)[0]!;
    expect(frame.data.buffer).toBe(stream.buffer);
    // Cluster header (5) + Timecode (4) + SimpleBlock header (2) + track, timecode and flags (4).
    expect(frame.data.byteOffset).toBe(stream.byteOffset + head.length + 5 + 4 + 2 + 4);
  });

  it('assembles a block straddling chunks, with the same bytes', () => {
    const reader = new MkvReader();
    const cut = stream.length - 15;
    const first = stream.slice(0, cut);
    const second = stream.slice(cut);
    const events = [...reader.push(first), ...reader.push(second), ...reader.end()];
    const last = frames(events)[2]!;
    expect(last.data.buffer).not.toBe(first.buffer);
    expect(last.data.buffer).not.toBe(second.buffer);
    expect([...last.data]).toEqual([...payload(30, 3)]);
  });

  it('reads a large block split into many small chunks', () => {
    const big = payload(2 * 1024 * 1024, 7);
    const bytes = concat(head, clusterWith(0, simpleBlock(1, 0, 0x80, big)));
    // Linear, not quadratic: the bytes copied while assembling the block stay a small multiple of its size
    // (a reader that re-concatenated per chunk would copy ~20 GB here). Counted, not timed.
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called on its array below
    const originalSet = Uint8Array.prototype.set;
    let copiedBytes = 0;
    const set = vi.spyOn(Uint8Array.prototype, 'set').mockImplementation(function (
      this: Uint8Array,
      source: ArrayLike<number>,
      offset?: number,
    ) {
      copiedBytes += source.length;
      originalSet.call(this, source, offset);
    });
    let events;
    try {
      events = readAll(chunksOf(bytes, 100));
    } finally {
      set.mockRestore();
    }
    expect(copiedBytes).toBeGreaterThanOrEqual(big.length);
    expect(copiedBytes).toBeLessThan(4 * big.length);
    // Compared by hash: a deep toEqual over 2 MB takes seconds.
    expect(sha1(frames(events)[0]!.data)).toBe(sha1(big));
  });

  it('works through readMkv on a Node Readable of Buffers and on an array of chunks', async () => {
    const fromNode: MkvEvent[] = [];
    for await (const event of readMkv(
      Readable.from(chunksOf(Buffer.from(stream), 7), { objectMode: true }),
    )) {
      fromNode.push(event);
    }
    const fromArray: MkvEvent[] = [];
    for await (const event of readMkv(asyncChunks(chunksOf(stream, 3)))) {
      fromArray.push(event);
    }
    expect(serializeEvents(fromNode)).toEqual(serializeEvents(readAll([stream])));
    expect(serializeEvents(fromArray)).toEqual(serializeEvents(readAll([stream])));
  });
});

describe('MkvReader: SimpleBlock header, byte literals', () => {
  const blockEvents = (...blocks: Uint8Array[]): MkvFrame[] =>
    frames(read(concat(...headerParts(), clusterWith(10_000, ...blocks))));

  it('decodes the keyframe (0x80), invisible (0x08) and discardable (0x01) flags', () => {
    const [key, invisible, discardable, all, none] = blockEvents(
      el(EbmlId.SimpleBlock, [0x81, 0x00, 0x00, 0x80, 0xaa]),
      el(EbmlId.SimpleBlock, [0x81, 0x00, 0x01, 0x08, 0xbb]),
      el(EbmlId.SimpleBlock, [0x81, 0x00, 0x02, 0x01, 0xcc]),
      el(EbmlId.SimpleBlock, [0x81, 0x00, 0x03, 0x89, 0xdd]),
      el(EbmlId.SimpleBlock, [0x81, 0x00, 0x04, 0x00, 0xee]),
    );
    expect([key!.isKeyframe, key!.isInvisible, key!.isDiscardable]).toEqual([true, false, false]);
    expect([invisible!.isKeyframe, invisible!.isInvisible, invisible!.isDiscardable]).toEqual([
      false,
      true,
      false,
    ]);
    expect([discardable!.isKeyframe, discardable!.isInvisible, discardable!.isDiscardable]).toEqual([
      false,
      false,
      true,
    ]);
    expect([all!.isKeyframe, all!.isInvisible, all!.isDiscardable]).toEqual([true, true, true]);
    expect([none!.isKeyframe, none!.isInvisible, none!.isDiscardable]).toEqual([false, false, false]);
    expect([...none!.data]).toEqual([0xee]);
  });

  it('reads the relative timecode as a signed int16', () => {
    const timecodes = blockEvents(
      el(EbmlId.SimpleBlock, [0x81, 0xff, 0xfe, 0x80, 1]), // -2
      el(EbmlId.SimpleBlock, [0x81, 0x80, 0x00, 0x00, 2]), // -32768
      el(EbmlId.SimpleBlock, [0x81, 0x7f, 0xff, 0x00, 3]), // +32767
      el(EbmlId.SimpleBlock, [0x81, 0x01, 0x00, 0x00, 4]), // +256
    ).map((frame) => frame.timecode);
    expect(timecodes).toEqual([9998, 10_000 - 32768, 10_000 + 32767, 10_256]);
  });

  it('reads multi-byte track numbers and still emits frames of undeclared tracks', () => {
    const [track129, track2] = blockEvents(
      el(EbmlId.SimpleBlock, [0x40, 0x81, 0x00, 0x00, 0x80, 9]),
      el(EbmlId.SimpleBlock, [0x82, 0x00, 0x00, 0x80, 8]),
    );
    expect(track129).toMatchObject({ trackNumber: 129, durationMs: undefined, data: new Uint8Array([9]) });
    // Track 2 is not in Tracks: the frame is emitted (KVS would answer 4010), with no DefaultDuration.
    expect(track2).toMatchObject({ trackNumber: 2, durationMs: undefined });
  });

  it('allows an empty frame payload', () => {
    const [frame] = blockEvents(el(EbmlId.SimpleBlock, [0x81, 0x00, 0x00, 0x80]));
    expect(frame!.data.length).toBe(0);
  });
});

describe('MkvReader: lacing, byte literals (Matroska §10.4)', () => {
  // Track 2: audio with a 20 ms DefaultDuration.
  const head = (defaultDurationNs?: number): Uint8Array =>
    concat(
      ebmlHeader(),
      unknownSize(EbmlId.Segment),
      infoEl(),
      tracksEl({ number: 1 }, { number: 2, type: 2, codecId: 'A_AAC', defaultDurationNs }),
    );
  const laced = (blockBody: number[], defaultDurationNs?: number): MkvFrame[] =>
    frames(read(concat(head(defaultDurationNs), clusterWith(500, el(EbmlId.SimpleBlock, blockBody)))));

  it('Xiph lacing: 255-continued sizes, last size implied', () => {
    const sizes = [300, 2, 4];
    // prettier-ignore
    const body = [
      0x82, 0x00, 0x05, 0x82, // track 2, +5 ticks, keyframe | Xiph lacing (0b01 << 1)
      0x02, // 3 frames
      0xff, 0x2d, // 255 + 45 = 300
      0x02, // 2; the last frame (4 bytes) takes the rest
      ...payload(300, 0x10), ...payload(2, 0x20), ...payload(4, 0x30),
    ];
    const result = laced(body, 20_000_000);
    expect(result.map((frame) => frame.data.length)).toEqual(sizes);
    expect(result[2]!.data).toEqual(payload(4, 0x30));
    expect(result.map((frame) => frame.timecode)).toEqual([505, 525, 545]);
    expect(result.map((frame) => frame.durationMs)).toEqual([20, 20, 20]);
    expect(result.every((frame) => frame.isKeyframe && frame.trackNumber === 2)).toBe(true);
  });

  it('EBML lacing: unsigned first size, then signed differences of 1 and 2 bytes', () => {
    // prettier-ignore
    const body = [
      0x82, 0x00, 0x00, 0x86, // keyframe | EBML lacing (0b11 << 1)
      0x03, // 4 frames
      0x83, // 3
      0xc1, // 1-byte signed: 0x41 - 63 = +2  -> 5
      0x5f, 0xfb, // 2-byte signed: 0x1ffb - 8191 = -4 -> 1
      ...payload(3, 1), ...payload(5, 2), ...payload(1, 3), ...payload(6, 4), // the last is 6, implied
    ];
    const result = laced(body);
    expect(result.map((frame) => frame.data.length)).toEqual([3, 5, 1, 6]);
    expect(result[3]!.data).toEqual(payload(6, 4));
    // No BlockDuration and no DefaultDuration: every laced frame carries the block time.
    expect(result.map((frame) => frame.timecode)).toEqual([500, 500, 500, 500]);
    expect(result.map((frame) => frame.durationMs)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('fixed-size lacing: equal frames', () => {
    const body = [0x82, 0x00, 0x00, 0x84, 0x02, ...payload(9, 0x40)]; // keyframe | fixed (0b10 << 1), 3 frames
    const result = laced(body, 21_333_333);
    expect(result.map((frame) => [...frame.data])).toEqual([
      [0x40, 0x41, 0x42],
      [0x43, 0x44, 0x45],
      [0x46, 0x47, 0x48],
    ]);
    expect(result.map((frame) => frame.timecode)).toEqual([500, 521, 542]);
  });

  it('splits a BlockDuration across laced frames', () => {
    const block = el(EbmlId.Block, [0x82, 0x00, 0x00, 0x04, 0x03, ...payload(8)]); // fixed, 4 frames
    const group = master(EbmlId.BlockGroup, block, uintEl(EbmlId.BlockDuration, 90));
    const result = frames(read(concat(head(20_000_000), clusterWith(0, group))));
    expect(result.map((frame) => frame.timecode)).toEqual([0, 22, 45, 67]);
    expect(result.map((frame) => frame.durationMs)).toEqual([22, 23, 22, 23]);
  });

  // prettier-ignore
  it.each([
    ['no frame count', [0x82, 0x00, 0x00, 0x82]],
    ['Xiph sizes past the end', [0x82, 0x00, 0x00, 0x82, 0x01, 0xff, 0xff]],
    ['Xiph sizes larger than the block', [0x82, 0x00, 0x00, 0x82, 0x01, 0x10, 1, 2]],
    ['a negative EBML lace size', [0x82, 0x00, 0x00, 0x86, 0x02, 0x82, 0x80, 1, 2, 3]],
    ['a truncated EBML lace size', [0x82, 0x00, 0x00, 0x86, 0x02, 0x40]],
    ['fixed lacing that does not divide', [0x82, 0x00, 0x00, 0x84, 0x01, 1, 2, 3]],
  ])('rejects %s', (_name, body) => {
    const bytes = concat(head(), clusterWith(0, el(EbmlId.SimpleBlock, body)));
    const error = readError(bytes);
    expect(error.elementId).toBe(EbmlId.SimpleBlock);
  });
});

describe('MkvReader: BlockGroup', () => {
  const stream = (...children: Uint8Array[]): Uint8Array =>
    concat(...headerParts(), clusterWith(100, ...children));

  it('keeps no view of a chunk: a Block waiting for its group to end is copied when the chunk ends', () => {
    const bytes = stream(
      master(
        EbmlId.BlockGroup,
        el(EbmlId.Block, [0x81, 0x00, 0x00, 0x00, ...payload(40, 1)]),
        uintEl(EbmlId.BlockDuration, 33),
      ),
      master(EbmlId.BlockGroup, el(EbmlId.Block, [0x81, 0x00, 0x21, 0x80, ...payload(300, 2)])),
    );
    const expected = serializeEvents(read(bytes));
    for (let cut = 1; cut < bytes.length; cut++) {
      const { events, error } = readScribbled(splitAt(bytes, [cut]));
      expect(error).toBeUndefined();
      expect(events).toEqual(expected);
    }
  });

  it('a Block without ReferenceBlock is a keyframe; BlockDuration beats DefaultDuration', () => {
    const bytes = stream(
      master(
        EbmlId.BlockGroup,
        el(EbmlId.Block, [0x81, 0x00, 0x00, 0x00, 0xaa]),
        uintEl(EbmlId.BlockDuration, 33),
      ),
      master(
        EbmlId.BlockGroup,
        uintEl(EbmlId.BlockDuration, 7), // before the Block: order inside a BlockGroup is free
        el(EbmlId.Block, [0x81, 0x00, 0x21, 0x88, 0xbb]), // 0x80 means nothing on a Block; 0x08 invisible does
        el(EbmlId.ReferenceBlock, [0xdf]), // -33
      ),
      master(EbmlId.BlockGroup, el(EbmlId.Block, [0x81, 0x00, 0x42, 0x00, 0xcc])),
    );
    const events = read(bytes);
    const result = frames(events);
    expect(
      result.map((frame) => [frame.timecode, frame.durationMs, frame.isKeyframe, frame.isInvisible]),
    ).toEqual([
      [100, 33, true, false],
      [133, 7, false, true],
      [166, 40, true, false],
    ]);
    const frameEvents = events.filter((event) => event.type === 'frame');
    // byteOffset is the BlockGroup's start.
    expect(bytes[frameEvents[0]!.byteOffset]).toBe(0xa0);
  });

  it('ignores a BlockGroup without a Block and rejects one with two', () => {
    expect(frames(read(stream(master(EbmlId.BlockGroup, uintEl(EbmlId.BlockDuration, 3)))))).toEqual([]);
    const block = el(EbmlId.Block, [0x81, 0x00, 0x00, 0x00, 1]);
    expect(readError(stream(master(EbmlId.BlockGroup, block, block))).elementId).toBe(EbmlId.Block);
  });
});

describe('MkvReader: segment structure', () => {
  it('reads known-size Segment and Cluster, skipping SeekHead, Void, CRC-32, Cues, Chapters and unknown IDs', () => {
    const cluster = master(
      EbmlId.Cluster,
      el(EbmlId.Crc32, [1, 2, 3, 4]),
      uintEl(EbmlId.Timecode, 5),
      uintEl(EbmlId.Position, 0),
      simpleBlock(1, 0, 0x80, [1]),
      el(0xec, payload(3)), // Void
      el(0x3a2b1c, [1, 2]), // an unknown ID
      simpleBlock(1, 40, 0, [2]),
    );
    const segmentBody = concat(
      master(EbmlId.SeekHead, el(0x4dbb, payload(10))),
      el(0xec, payload(50)),
      infoEl(),
      tracksEl({ number: 1 }),
      cluster,
      master(EbmlId.Cues, el(0xbb, payload(12))),
      master(EbmlId.Chapters, el(0x45b9, payload(12))),
    );
    const bytes = concat(ebmlHeader(), master(EbmlId.Segment, segmentBody));
    const events = read(bytes);
    expect(types(events)).toEqual(['header', 'cluster', 'frame', 'frame', 'segment-end']);
    expect(frames(events).map((frame) => frame.timecode)).toEqual([5, 45]);
    expect(events.at(-1)!.byteOffset).toBe(bytes.length);
  });

  it('streams past large Attachments without buffering them', () => {
    const attachments = master(EbmlId.Attachments, el(0x61a7, payload(300_000)));
    const bytes = concat(...headerParts(), attachments, clusterWith(0, simpleBlock(1, 0, 0x80, [1])));
    // The metadata limit is far below the Attachments size: skipping must not gather it.
    const reader = new MkvReader({ maxMetadataBytes: 4096 });
    const events = [...chunksOf(bytes, 4096).flatMap((chunk) => reader.push(chunk)), ...reader.end()];
    expect(frames(events)).toHaveLength(1);
  });

  it('ends an unknown-size Cluster at Tags and at the next Cluster; Tags between clusters keep their place', () => {
    const bytes = concat(
      ...headerParts(),
      tagsEl(['AWS_KINESISVIDEO_FRAGMENT_NUMBER', '1']),
      clusterWith(0, simpleBlock(1, 0, 0x80, [1])),
      tagsEl(['AWS_KINESISVIDEO_END_OF_FRAGMENT', '']),
      clusterWith(1000, simpleBlock(1, 0, 0x80, [2])),
      clusterWith(2000, simpleBlock(1, 0, 0x80, [3])),
    );
    const events = read(bytes);
    expect(types(events)).toEqual([
      'header',
      'tags',
      'cluster',
      'frame',
      'tags',
      'cluster',
      'frame',
      'cluster',
      'frame',
      'segment-end',
    ]);
    expect(events[4]).toMatchObject({
      type: 'tags',
      tags: [{ name: 'AWS_KINESISVIDEO_END_OF_FRAGMENT', value: '' }],
    });
  });

  it('starts a new header after each EBML header (GetMedia chunks) and ends the previous Segment there', () => {
    const chunk = (timecode: number): Uint8Array =>
      concat(
        ...headerParts(),
        tagsEl(['AWS_KINESISVIDEO_FRAGMENT_NUMBER', String(timecode)]),
        clusterWith(timecode, simpleBlock(1, 0, 0x80, [timecode & 0xff])),
        tagsEl(['AWS_KINESISVIDEO_MILLIS_BEHIND_NOW', '5']),
      );
    const first = chunk(1000);
    const bytes = concat(first, chunk(2000), chunk(3000));
    const events = read(bytes);
    expect(types(events)).toEqual([
      ...['header', 'tags', 'cluster', 'frame', 'tags', 'segment-end'],
      ...['header', 'tags', 'cluster', 'frame', 'tags', 'segment-end'],
      ...['header', 'tags', 'cluster', 'frame', 'tags', 'segment-end'],
    ]);
    const headers = events.filter((event) => event.type === 'header');
    expect(headers.map((event) => event.byteOffset)).toEqual([0, first.length, 2 * first.length]);
    expect(events[5]).toEqual({ type: 'segment-end', byteOffset: first.length });
  });

  it('ends the media header at the first Tags after Tracks, and includes Tags found before Tracks', () => {
    const early = tagsEl(['EARLY', 'yes']);
    const head = concat(ebmlHeader(), unknownSize(EbmlId.Segment), infoEl(), early, tracksEl({ number: 1 }));
    const bytes = concat(head, tagsEl(['LATE', '1']), clusterWith(0, simpleBlock(1, 0, 0x80, [1])));
    const events = read(bytes);
    expect(types(events)).toEqual(['header', 'tags', 'tags', 'cluster', 'frame', 'segment-end']);
    const header = events[0]!;
    expect(header.type === 'header' && header.headerBytes).toEqual(head);
    expect(events[1]).toMatchObject({ tags: [{ name: 'EARLY', value: 'yes' }] });
    expect(events[2]).toMatchObject({ byteOffset: head.length, tags: [{ name: 'LATE', value: '1' }] });
  });

  it('gives a Segment without Tracks or Clusters a header (no tracks), then its tags', () => {
    const head = concat(ebmlHeader('webm', 4), unknownSize(EbmlId.Segment), infoEl());
    const bytes = concat(head, tagsEl(['A', 'b']));
    const events = read(bytes);
    expect(types(events)).toEqual(['header', 'tags', 'segment-end']);
    expect(events[0]).toMatchObject({ header: { docType: 'webm', docTypeVersion: 4, tracks: [] } });
    // With no Tracks, the Tags are part of the media header, which runs to the end of the Segment.
    expect(events[0]!.type === 'header' && events[0]!.headerBytes).toEqual(bytes);
  });

  it('skips Info and Tracks that come after the header was emitted', () => {
    const bytes = concat(
      ...headerParts(),
      clusterWith(0, simpleBlock(1, 0, 0x80, [1])),
      tracksEl({ number: 1, defaultDurationNs: 1 }),
      infoEl(1000),
      clusterWith(10, simpleBlock(1, 0, 0x80, [1])),
    );
    const result = frames(read(bytes));
    expect(result.map((frame) => [frame.timestampMs, frame.durationMs])).toEqual([
      [0, 40],
      [10, 40],
    ]);
  });

  it('applies a TimecodeScale other than 1 ms', () => {
    const bytes = concat(
      ebmlHeader(),
      unknownSize(EbmlId.Segment),
      infoEl(100_000), // 0.1 ms ticks
      tracksEl({ number: 1, defaultDurationNs: 33_366_666 }),
      clusterWith(
        12_345,
        simpleBlock(1, 10, 0x80, [1]),
        master(
          EbmlId.BlockGroup,
          el(EbmlId.Block, [0x81, 0x00, 0x14, 0x00, 2]),
          uintEl(EbmlId.BlockDuration, 25),
        ),
      ),
    );
    const events = read(bytes);
    expect(events[1]).toMatchObject({ type: 'cluster', timecode: 12_345 });
    expect((events[1] as { timestampMs: number }).timestampMs).toBeCloseTo(1234.5, 9);
    const [first, second] = frames(events);
    expect(first!.timecode).toBe(12_355);
    expect(first!.timestampMs).toBeCloseTo(1235.5, 9);
    expect(first!.durationMs).toBeCloseTo(33.366666, 9);
    expect(second!.timestampMs).toBeCloseTo(1236.5, 9);
    expect(second!.durationMs).toBeCloseTo(2.5, 9);
  });

  it('reads track details: UID as bigint, codec private, name, video size, audio float 4 and 8 bytes', () => {
    const entry = (number: number, ...children: Uint8Array[]): Uint8Array =>
      master(EbmlId.TrackEntry, uintEl(EbmlId.TrackNumber, number), ...children);
    const tracks = master(
      EbmlId.Tracks,
      entry(
        1,
        uintEl(EbmlId.TrackUid, 0xfedcba9876543210n),
        uintEl(EbmlId.TrackType, 1),
        stringEl(EbmlId.CodecId, 'V_MPEGH/ISO/HEVC'),
        el(EbmlId.CodecPrivate, [1, 2, 3]),
        stringEl(EbmlId.Name, 'kvs_video_track'),
        master(EbmlId.Video, uintEl(EbmlId.PixelWidth, 640), uintEl(EbmlId.PixelHeight, 480)),
      ),
      entry(
        2,
        uintEl(EbmlId.TrackType, 2),
        stringEl(EbmlId.CodecId, 'A_AAC'),
        master(
          EbmlId.Audio,
          floatEl(EbmlId.SamplingFrequency, 44_100, 4),
          uintEl(EbmlId.Channels, 2),
          uintEl(EbmlId.BitDepth, 16),
        ),
      ),
      entry(
        3,
        uintEl(EbmlId.TrackType, 2),
        stringEl(EbmlId.CodecId, 'A_OPUS'),
        master(EbmlId.Audio, floatEl(EbmlId.SamplingFrequency, 48_000.5, 8)),
      ),
    );
    const info = master(
      EbmlId.Info,
      el(EbmlId.SegmentUid, payload(16)),
      stringEl(EbmlId.Title, 'Kinesis Video SDK'),
      stringEl(EbmlId.WritingApp, 'w\u00e9\0\0'), // UTF-8 with NUL padding
      floatEl(EbmlId.Duration, 1234),
    );
    const events = read(concat(ebmlHeader(), unknownSize(EbmlId.Segment), info, tracks));
    expect(events[0]).toMatchObject({
      type: 'header',
      header: {
        segmentUid: payload(16),
        title: 'Kinesis Video SDK',
        writingApp: 'w\u00e9',
        tracks: [
          {
            number: 1,
            uid: 0xfedcba9876543210n,
            type: 1,
            codecId: 'V_MPEGH/ISO/HEVC',
            codecPrivate: new Uint8Array([1, 2, 3]),
            name: 'kvs_video_track',
            video: { widthPx: 640, heightPx: 480 },
          },
          {
            number: 2,
            uid: 0n,
            type: 2,
            codecId: 'A_AAC',
            audio: { samplingFrequencyHz: 44_100, channels: 2, bitDepth: 16 },
          },
          { number: 3, type: 2, codecId: 'A_OPUS', audio: { samplingFrequencyHz: 48_000.5, channels: 1 } },
        ],
      },
    });
  });

  it('flattens nested SimpleTags and keeps TagBinary', () => {
    const simple = (name: string, ...rest: Uint8Array[]): Uint8Array =>
      master(EbmlId.SimpleTag, stringEl(EbmlId.TagName, name), ...rest);
    const tags = master(
      EbmlId.Tags,
      master(
        EbmlId.Tag,
        master(EbmlId.Targets, uintEl(EbmlId.TargetTypeValue, 50)),
        simple(
          'PARENT',
          stringEl(EbmlId.TagString, 'p'),
          simple('CHILD', stringEl(EbmlId.TagString, 'c'), simple('GRANDCHILD')),
        ),
        simple('BIN', el(EbmlId.TagBinary, [0xde, 0xad])),
      ),
      master(EbmlId.Tag, simple('SECOND', stringEl(EbmlId.TagString, '2'))),
    );
    const events = read(concat(...headerParts(), tags));
    expect(events[1]).toEqual({
      type: 'tags',
      byteOffset: concat(...headerParts()).length,
      tags: [
        { name: 'PARENT', value: 'p' },
        { name: 'CHILD', value: 'c' },
        { name: 'GRANDCHILD' },
        { name: 'BIN', binary: new Uint8Array([0xde, 0xad]) },
        { name: 'SECOND', value: '2' },
      ],
    });
  });
});

describe('MkvReader: errors are MkvParseErrors with offsets', () => {
  const head = concat(...headerParts());

  it('rejects input that does not start with an EBML header, with a suggestion', () => {
    const mp4 = new Uint8Array([0x00, 0x00, 0x00, 0x20, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d]);
    const error = readError(mp4);
    expect(error.byteOffset).toBe(0);
    expect(error.message).toMatch(/does not start with an EBML header/);
    expect(error.suggestion).toMatch(/ffmpeg/);
    const segmentFirst = readError(concat(unknownSize(EbmlId.Segment), infoEl()));
    expect(segmentFirst.message).toMatch(/found element Segment/);
  });

  it('rejects empty input', () => {
    expect(() => new MkvReader().end()).toThrow(MkvParseError);
  });

  it('names the element and offset when the input ends inside a block of known size', () => {
    const block = simpleBlock(1, 0, 0x80, payload(100));
    const bytes = concat(head, clusterWith(0, block)).subarray(0, -10);
    const error = readError(bytes);
    expect(error.elementId).toBe(EbmlId.SimpleBlock);
    expect(error.byteOffset).toBe(bytes.length + 10 - block.length);
    expect(error.message).toMatch(/input ended/);
  });

  it('reports the input ending inside an element header (mid-vint)', () => {
    const bytes = concat(head, [0x1f, 0x43, 0xb6, 0x75, 0x01, 0xff]);
    const error = readError(bytes);
    expect(error.byteOffset).toBe(head.length);
    expect(error.message).toMatch(/element header/);
  });

  it('reports the input ending inside a known-size Cluster between its children', () => {
    const last = simpleBlock(1, 1, 0, [2]);
    const cluster = master(EbmlId.Cluster, uintEl(EbmlId.Timecode, 0), simpleBlock(1, 0, 0x80, [1]), last);
    const bytes = concat(head, cluster.subarray(0, cluster.length - last.length));
    const error = readError(bytes);
    expect(error.elementId).toBe(EbmlId.Cluster);
    expect(error.byteOffset).toBe(head.length);
  });

  it('rejects an invalid ID vint and an invalid size vint', () => {
    const badId = readError(concat(head, clusterWith(0, [0x00, 0x81, 0x00])));
    expect(badId.message).toMatch(/invalid element ID/);
    expect(badId.byteOffset).toBe(head.length + 5 + 3);
    const badSize = readError(concat(head, clusterWith(0, [0xa3, 0x00, 0x01])));
    expect(badSize.message).toMatch(/invalid element size/);
    expect(badSize.byteOffset).toBe(head.length + 5 + 3 + 1);
  });

  it('rejects a child larger than its parent', () => {
    const cluster = concat(
      [0x1f, 0x43, 0xb6, 0x75, 0x88],
      uintEl(EbmlId.Timecode, 0),
      [0xa3, 0x85, 0x81, 0, 0, 0x80, 1],
    );
    const error = readError(concat(head, cluster));
    expect(error.elementId).toBe(EbmlId.SimpleBlock);
    expect(error.message).toMatch(/past the end of its parent Cluster/);
  });

  it('rejects absurd block sizes before reading them', () => {
    // A SimpleBlock announcing 300 MB: refused at its header, no waiting for 300 MB.
    const bytes = concat(head, clusterWith(0, [0xa3, 0x08, 0x11, 0xe1, 0xa3, 0x00]));
    const error = readError(bytes);
    expect(error.message).toMatch(/element of 300000000 bytes is larger than the 268435456-byte limit/);
    expect(error.byteOffset).toBe(head.length + 5 + 3);
    const small = new MkvReader({ maxBlockBytes: 4 });
    small.push(concat(head, clusterWith(0, simpleBlock(1, 0, 0, payload(5)))));
    expect(() => small.end()).toThrow(MkvParseError);
  });

  it('rejects unknown sizes other than Segment and Cluster, blocks before the Timecode, and short blocks', () => {
    const unknownGroup = readError(concat(head, clusterWith(0, unknownSize(EbmlId.BlockGroup))));
    expect(unknownGroup.elementId).toBe(EbmlId.BlockGroup);
    const early = readError(concat(head, unknownSize(EbmlId.Cluster, simpleBlock(1, 0, 0x80, [1]))));
    expect(early.message).toMatch(/before the Cluster Timecode/);
    const short = readError(concat(head, clusterWith(0, el(EbmlId.SimpleBlock, [0x81, 0x00]))));
    expect(short.message).toMatch(/too short/);
    const reserved = readError(concat(head, clusterWith(0, el(EbmlId.SimpleBlock, [0xff, 0, 0, 0]))));
    expect(reserved.message).toMatch(/reserved track number/);
  });

  it('rejects malformed metadata: TimecodeScale 0, a TrackEntry without number, a bad float', () => {
    const base = [ebmlHeader(), unknownSize(EbmlId.Segment)];
    expect(readError(concat(...base, master(EbmlId.Info, uintEl(EbmlId.TimecodeScale, 0)))).elementId).toBe(
      EbmlId.TimecodeScale,
    );
    expect(readError(concat(...base, master(EbmlId.Tracks, master(EbmlId.TrackEntry)))).elementId).toBe(
      EbmlId.TrackEntry,
    );
    const badFloat = master(
      EbmlId.Tracks,
      master(
        EbmlId.TrackEntry,
        uintEl(EbmlId.TrackNumber, 1),
        master(EbmlId.Audio, el(EbmlId.SamplingFrequency, [1, 2, 3])),
      ),
    );
    expect(readError(concat(...base, badFloat)).elementId).toBe(EbmlId.SamplingFrequency);
  });

  it('returns the events found before a corrupt byte, then throws on the next call, and stays failed', () => {
    const bytes = concat(head, clusterWith(0, simpleBlock(1, 0, 0x80, [1]), [0x00]));
    const reader = new MkvReader();
    const events = reader.push(bytes);
    expect(types(events)).toEqual(['header', 'cluster', 'frame']);
    let first: unknown;
    try {
      reader.end();
    } catch (error) {
      first = error;
    }
    expect(first).toBeInstanceOf(MkvParseError);
    expect(() => reader.push(new Uint8Array(1))).toThrow(String((first as Error).message));
  });

  it('yields the events before a fault from readMkv, then throws', async () => {
    const bytes = concat(head, clusterWith(0, simpleBlock(1, 0, 0x80, [1]), [0x00]));
    const seen: string[] = [];
    await expect(async () => {
      for await (const event of readMkv(asyncChunks([bytes.subarray(0, 40), bytes.subarray(40)]))) {
        seen.push(event.type);
      }
    }).rejects.toThrow(MkvParseError);
    expect(seen).toEqual(['header', 'cluster', 'frame']);
  });

  it('refuses non-byte chunks and use after end() as programmer errors', () => {
    const reader = new MkvReader();
    expect(() => reader.push('text' as unknown as Uint8Array)).toThrow(TypeError);
    const done = new MkvReader();
    done.push(concat(head));
    done.end();
    expect(() => done.end()).toThrow(/after end/);
    expect(() => new MkvReader({ maxBlockBytes: -1 })).toThrow(TypeError);
  });
});
