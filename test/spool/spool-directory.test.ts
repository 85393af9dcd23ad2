import { mkdtempSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { SpoolDirectory } from '../../src/spool/spool-directory.js';
import { listSegments, readRecord } from '../../src/spool/segment-log.js';

const payload = (n: number): Uint8Array => new Uint8Array(400).fill(n);

describe('a spool directory', () => {
  it('rolls segments over by size, and a reopen recovers every record in order', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'kvs-spool-dir-')), 'spool');
    const { spool, recovery } = await SpoolDirectory.open(dir, { segmentBytes: 1000 });
    expect(recovery).toEqual({ records: [], torn: [] });
    for (let i = 0; i < 6; i++) {
      await spool.append(payload(i));
    }
    // 8 bytes of magic, then records of 408 bytes: three to a segment before it passes 1000.
    expect(await listSegments(dir)).toHaveLength(2);
    await expect(SpoolDirectory.open(dir)).rejects.toMatchObject({ code: ErrorCode.Busy });
    await spool.close();
    expect(statSync(dir).mode & 0o777).toBe(0o700);

    const reopened = await SpoolDirectory.open(dir, { segmentBytes: 1000 });
    expect(reopened.recovery.torn).toEqual([]);
    const payloads = await Promise.all(reopened.recovery.records.map((ref) => readRecord(dir, ref)));
    expect(payloads.map((bytes) => bytes[0])).toEqual([0, 1, 2, 3, 4, 5]);
    // A new run appends to a new segment, after the recovered ones.
    await reopened.spool.append(payload(9));
    expect(reopened.spool.currentSegment).toBe('000000000003.seg');
    await reopened.spool.close();
  });

  it('reports each torn tail it cut, and deletes a segment once it is done with', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvs-spool-dir-'));
    const { spool } = await SpoolDirectory.open(dir, { segmentBytes: 1000 });
    for (let i = 0; i < 4; i++) {
      await spool.append(payload(i));
    }
    await spool.close();
    const [first, second] = await listSegments(dir);
    truncateSync(join(dir, second!), statSync(join(dir, second!)).size - 100);

    const { spool: again, recovery } = await SpoolDirectory.open(dir);
    expect(recovery.records).toHaveLength(3);
    expect(recovery.torn).toEqual([{ segment: second, bytes: 308, reason: 'a record cut short' }]);
    await again.removeSegment(first!);
    expect(await listSegments(dir)).toEqual([second]);
    await again.close();
  });
});
