/**
 * docs/events.schema.json and the TypeScript event types must not drift: every `event` of the union has a
 * schema entry and every entry an `event` of the union; `--help` and the README list them all; and the
 * validator every integration test runs on `--json` output (ndjson()) rejects what it must.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { runCli } from '../../src/cli/run-cli.js';
import { ErrorCode, KvsPutError } from '../../src/errors.js';
import type { UploadEvent } from '../../src/upload/upload-events.js';
import { UPLOAD_EVENT_TYPES, failureSummary } from '../../src/upload/upload-events.js';
import type { JsonSchema } from '../helpers/event-schema.js';
import {
  EVENT_SCHEMA,
  SUPPORTED_KEYWORDS,
  expectEventRecord,
  schemaErrors,
} from '../helpers/event-schema.js';
import { REPO_ROOT } from '../helpers/paths.js';

/** The schema's record definitions: those whose `event` is a constant. */
const recordDefinitions = (): string[] =>
  Object.entries(EVENT_SCHEMA.definitions ?? {})
    .filter(([, definition]) => definition.properties?.['event']?.const !== undefined)
    .map(([name]) => name);

const keywordsOf = (schema: JsonSchema, found = new Set<string>()): Set<string> => {
  for (const [key, value] of Object.entries(schema)) {
    found.add(key);
    if (key === 'properties' || key === 'definitions') {
      for (const child of Object.values(value as Record<string, JsonSchema>)) {
        keywordsOf(child, found);
      }
    } else if (key === 'items' || (key === 'additionalProperties' && typeof value === 'object')) {
      keywordsOf(value as JsonSchema, found);
    } else if (key === 'oneOf') {
      for (const child of value as JsonSchema[]) {
        keywordsOf(child, found);
      }
    }
  }
  return found;
};

const summary = failureSummary(new KvsPutError(ErrorCode.StreamNotFound, 'stream cam not found'));

describe('the --json schema', () => {
  it('has one entry per event type of the UploadEvent union, and no other', () => {
    expectTypeOf<(typeof UPLOAD_EVENT_TYPES)[number]>().toEqualTypeOf<UploadEvent['event']>();
    expect(recordDefinitions().sort()).toEqual([...UPLOAD_EVENT_TYPES].sort());
    for (const name of recordDefinitions()) {
      expect(EVENT_SCHEMA.definitions?.[name]?.properties?.['event']?.const).toBe(name);
    }
    expect(EVENT_SCHEMA.oneOf?.map((option) => option.$ref).sort()).toEqual(
      UPLOAD_EVENT_TYPES.map((type) => `#/definitions/${type}`).sort(),
    );
  });

  it('uses only the keywords the test validator implements', () => {
    expect([...keywordsOf(EVENT_SCHEMA)].filter((key) => !SUPPORTED_KEYWORDS.has(key))).toEqual([]);
  });

  it('accepts a failed run’s summary, and rejects a field of the wrong type, an unknown field or event', () => {
    expectEventRecord(JSON.parse(JSON.stringify(summary)));
    expect(summary).toMatchObject({ fragments: 0, error: { code: 'KVS_STREAM_NOT_FOUND' } });
    expect(() => expectEventRecord({ ...summary, skipped: [] })).toThrow(
      /\$\.skipped: \[\] is not of type integer/,
    );
    expect(() => expectEventRecord({ event: 'note', message: 'x', extra: 1 })).toThrow(
      /unexpected field extra/,
    );
    expect(() => expectEventRecord({ event: 'note' })).toThrow(/missing message/);
    expect(() => expectEventRecord({ event: 'nope' })).toThrow(/no schema for event "nope"/);
    // A later counter in the summary is allowed (readers ignore what they do not know), if it is a count.
    expectEventRecord({ ...JSON.parse(JSON.stringify(summary)), laterCount: 3 });
    expect(schemaErrors({ ...summary, laterCount: 'x' }, { $ref: '#/definitions/summary' })).not.toEqual([]);
    expect(schemaErrors({ ...summary, framesNotSent: 3 }, { $ref: '#/definitions/summary' })).not.toEqual([]);
  });

  it('every event type is in put --help and the README', async () => {
    let out = '';
    const io = {
      stdout: { write: (text: string | Uint8Array) => (out += String(text)) },
      stderr: { write: (text: string) => (out += text) },
      stdin: new PassThrough(),
      env: {},
      cwd: REPO_ROOT,
      signal: new AbortController().signal,
    };
    expect(await runCli(['put', '--help'], io)).toBe(0);
    const help = out.replace(/\s+/g, ' ');
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const docs = readFileSync(join(REPO_ROOT, 'docs', 'events.md'), 'utf8');
    for (const type of UPLOAD_EVENT_TYPES) {
      expect(help, `put --help lists ${type}`).toMatch(new RegExp(`[ (:,]${type}[,;) ]`));
      expect(readme, `README lists ${type}`).toContain(`\`${type}\``);
      expect(docs, `docs/events.md explains ${type}`).toContain(`### \`${type}\``);
    }
  });
});
