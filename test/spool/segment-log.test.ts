import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_RECORD_BYTES,
  SEGMENT_MAGIC,
  SegmentWriter,
  listSegments,
  readRecord,
  recoverSegment,
  segmentName,
  segmentSequence,
} from '../../src/spool/segment-log.js';
import { ensureBuilt } from '../helpers/kvs-put-process.js';
import { REPO_ROOT } from '../helpers/paths.js';

// The kill -9 test runs the built module in a child process.
beforeAll(() => ensureBuilt());

const spoolDir = (): string => mkdtempSync(join(tmpdir(), 'kvs-spool-'));
const payload = (n: number, size = 1000): Uint8Array => new Uint8Array(size).fill(n % 256);

const writeRecords = async (dir: string, segment: string, count: number): Promise<void> => {
  const writer = await SegmentWriter.open(dir, segment);
  await Promise.all(Array.from({ length: count }, (_, i) => writer.append(payload(i, 1000 + i))));
  await writer.close();
};

describe('spool segments', () => {
  it('appends records in call order and reads them back after recovery', async () => {
    const dir = spoolDir();
    await writeRecords(dir, segmentName(1), 10);
    const scan = await recoverSegment(dir, segmentName(1));
    expect(scan.tornBytes).toBe(0);
    expect(scan.records).toHaveLength(10);
    for (const [i, ref] of scan.records.entries()) {
      expect(await readRecord(dir, ref)).toEqual(payload(i, 1000 + i));
    }
  });

  it('a record cut short (a kill mid-write) is dropped, the file cut back, and appends go on after it', async () => {
    const dir = spoolDir();
    const segment = segmentName(1);
    await writeRecords(dir, segment, 3);
    const path = join(dir, segment);
    const size = statSync(path).size;
    truncateSync(path, size - 500);
    const scan = await recoverSegment(dir, segment);
    expect(scan.records).toHaveLength(2);
    expect(scan.tornBytes).toBe(8 + 1002 - 500);
    expect(scan.tornReason).toBe('a record cut short');
    expect(statSync(path).size).toBe(size - (8 + 1002));

    const writer = await SegmentWriter.open(dir, segment);
    await writer.append(payload(7));
    await writer.close();
    const again = await recoverSegment(dir, segment);
    expect(again.tornBytes).toBe(0);
    expect(await readRecord(dir, again.records[2]!)).toEqual(payload(7));
  });

  it('a header cut short, and a record whose bytes changed, end the segment there', async () => {
    const dir = spoolDir();
    const segment = segmentName(1);
    await writeRecords(dir, segment, 3);
    const path = join(dir, segment);
    const bytes = readFileSync(path);
    writeFileSync(path, bytes.subarray(0, bytes.length - (8 + 1002) + 5));
    expect(await recoverSegment(dir, segment)).toMatchObject({
      tornBytes: 5,
      tornReason: 'a record header cut short',
    });

    const damaged = readFileSync(path);
    const at = SEGMENT_MAGIC.length + 8 + 1000 + 8 + 20;
    damaged[at] = (damaged[at] ?? 0) ^ 0xff;
    writeFileSync(path, damaged);
    const scan = await recoverSegment(dir, segment);
    expect(scan.records).toHaveLength(1);
    expect(scan.tornReason).toBe('a record whose checksum fails');
  });

  it('a segment killed before its header was synced holds nothing; opening it writes the header', async () => {
    const dir = spoolDir();
    writeFileSync(join(dir, segmentName(4)), new Uint8Array(3));
    expect(await recoverSegment(dir, segmentName(4))).toMatchObject({ records: [], tornBytes: 3 });
    expect(statSync(join(dir, segmentName(4))).size).toBe(0);
    const writer = await SegmentWriter.open(dir, segmentName(4));
    expect(writer.bytes).toBe(SEGMENT_MAGIC.length);
    await writer.close();
  });

  it('lists segments oldest first, by sequence number; refuses a record over the limit', async () => {
    const dir = spoolDir();
    for (const sequence of [10, 2, 1]) {
      await writeRecords(dir, segmentName(sequence), 1);
    }
    writeFileSync(join(dir, 'notes.txt'), 'x');
    expect((await listSegments(dir)).map(segmentSequence)).toEqual([1, 2, 10]);
    const writer = await SegmentWriter.open(dir, segmentName(11));
    await expect(writer.append(new Uint8Array(MAX_RECORD_BYTES + 1))).rejects.toThrow(RangeError);
    await writer.close();
  });

  it('kill -9 at any moment: every record whose append resolved is there, and nothing torn is read', async () => {
    const dir = spoolDir();
    // A child appends numbered records as fast as it can and prints each number once its append resolved.
    const script = `
      const { SegmentWriter, segmentName } = await import(${JSON.stringify(join(REPO_ROOT, 'dist', 'spool', 'segment-log.js'))});
      const writer = await SegmentWriter.open(${JSON.stringify(dir)}, segmentName(1));
      for (let i = 0; ; i++) {
        const payload = new Uint8Array(20000 + (i % 7) * 3000).fill(i % 256);
        await writer.append(payload);
        process.stdout.write(i + '\\n');
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let confirmed = -1;
    await new Promise<void>((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (text: string) => {
        const last = text.trim().split('\n').at(-1);
        confirmed = Math.max(confirmed, Number(last));
        if (confirmed >= 40) {
          child.kill('SIGKILL');
        }
      });
      child.on('exit', () => resolve());
    });
    const scan = await recoverSegment(dir, segmentName(1));
    // Everything confirmed is there; at most the records being written when the kill came are more.
    expect(scan.records.length).toBeGreaterThanOrEqual(confirmed + 1);
    for (const [i, ref] of scan.records.entries()) {
      expect(await readRecord(dir, ref)).toEqual(new Uint8Array(20000 + (i % 7) * 3000).fill(i % 256));
    }
  });
});
