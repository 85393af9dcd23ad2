import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Fragmenter } from '../../src/fragment/fragmenter.js';
import type { Fragment, SessionHeader, SessionItem } from '../../src/fragment/fragmenter.js';
import { SessionWriter } from '../../src/fragment/session-writer.js';
import { MkvReader } from '../../src/mkv/mkv-reader.js';
import {
  decodeSpoolRecord,
  encodeSpoolRecord,
  fragmentOf,
  fragmentRecord,
} from '../../src/spool/spool-record.js';
import type { SpoolHeaderRecord } from '../../src/spool/spool-record.js';
import { FIXTURES } from '../helpers/paths.js';

const itemsOf = (file: string): SessionItem[] => {
  const reader = new MkvReader();
  const fragmenter = new Fragmenter({ startTimeMs: Date.parse('2026-01-02T03:04:05Z') });
  const items = [...reader.push(readFileSync(join(FIXTURES, file))), ...reader.end()].flatMap((event) =>
    fragmenter.push(event),
  );
  return [...items, ...fragmenter.end()];
};

const wire = (items: readonly SessionItem[]): Buffer => {
  // One SegmentUID for both writes: it is random per session otherwise.
  const writer = new SessionWriter({ segmentUid: new Uint8Array(16).fill(7) });
  return Buffer.concat([...items.flatMap((item) => writer.write(item)), ...writer.end()]);
};

describe('spool records', () => {
  it('a header and its fragments round-trip: the session writes the same bytes from them', () => {
    const items = itemsOf('h264-aac.mkv');
    const header = items.find((item): item is SessionHeader => item.type === 'session-header')!;
    const fragments = items.filter((item): item is Fragment => item.type === 'fragment');
    expect(fragments.length).toBeGreaterThan(1);

    const headerRecord: SpoolHeaderRecord = {
      kind: 'header',
      stream: 'cam1',
      headerId: 0,
      tracks: header.tracks,
    };
    const decodedHeader = decodeSpoolRecord(encodeSpoolRecord(headerRecord));
    expect(decodedHeader).toMatchObject({ kind: 'header', stream: 'cam1', headerId: 0 });
    const tracks = decodedHeader.kind === 'header' ? decodedHeader.tracks : [];
    expect(tracks.map((track) => track.uid)).toEqual(header.tracks.map((track) => track.uid));
    expect(Buffer.from(tracks[0]!.codecPrivate!)).toEqual(Buffer.from(header.tracks[0]!.codecPrivate!));

    const again = fragments.map((fragment) => {
      const decoded = decodeSpoolRecord(encodeSpoolRecord(fragmentRecord('cam1', 0, fragment)));
      expect(decoded.kind).toBe('fragment');
      return fragmentOf(decoded as Extract<typeof decoded, { kind: 'fragment' }>, fragment.sequence);
    });
    const restoredHeader: SessionHeader = {
      type: 'session-header',
      tracks: decodedHeader.kind === 'header' ? decodedHeader.tracks : [],
    };
    expect(wire([restoredHeader, ...again])).toEqual(wire([header, ...fragments]));
    expect(again[1]).toMatchObject({
      producerTimestampMs: fragments[1]!.producerTimestampMs,
      timecode: fragments[1]!.timecode,
      isContinuation: false,
    });
  });

  it('binary tags survive; records that are not records are refused', () => {
    const tags = [
      { name: 'A', value: 'text' },
      { name: 'B', binary: new Uint8Array([0, 1, 255]) },
    ];
    const fragment = itemsOf('h264.mkv').find((item): item is Fragment => item.type === 'fragment')!;
    const decoded = decodeSpoolRecord(encodeSpoolRecord(fragmentRecord('s', 3, { ...fragment, tags })));
    expect(decoded).toMatchObject({ kind: 'fragment', stream: 's', headerId: 3, tags });

    expect(() => decodeSpoolRecord(new Uint8Array(2))).toThrow('too short');
    const bad = encodeSpoolRecord({ kind: 'header', stream: 's', headerId: 0, tracks: [] });
    new DataView(bad.buffer).setUint32(0, 1_000_000, true);
    expect(() => decodeSpoolRecord(bad)).toThrow('runs past its end');
  });
});
