import { startLocalKvs } from '../../src/emulator/local-kvs.js';
import type { LocalKvs } from '../../src/emulator/local-kvs.js';
import type { FaultPlan } from '../../src/emulator/fault-plan.js';
import { sessionHeader } from '../../src/fragment/fragmenter.js';
import type { Fragment, SessionHeader, SessionItem } from '../../src/fragment/fragmenter.js';
import { END_OF_FRAGMENT_BYTES } from '../../src/mkv/mkv-writer.js';
import { UploadSession } from '../../src/session/upload-session.js';
import type { UploadEvent, UploadOptions, UploadSummary } from '../../src/session/upload-session.js';
import {
  createStream,
  eventually,
  framesOf,
  storedFragments,
  VIDEO_TRACK,
} from '../emulator/put-media-helpers.js';
import { FakeClock } from '../helpers/fake-clock.js';

export const START_MS = Date.parse('2026-01-02T03:04:05Z');
/** One track set for every fragment. */
export const TRACKS = [VIDEO_TRACK] as const;
/** The session header every synthetic stream begins with. */
export const HEADER: SessionHeader = sessionHeader(TRACKS);
/** Each synthetic fragment lasts this long (10 frames of 40 ms). */
export const FRAGMENT_MS = 400;

/** The fragment whose first frame a payload is: the session writes payloads as they are, so writes tell. */
const sequenceOfPayload = new WeakMap<Uint8Array, number>();

/** Fragment `sequence` of a synthetic stream: 10 frames of 1000 bytes, a key frame first. */
export const makeFragment = (sequence: number, overrides: Partial<Fragment> = {}): Fragment => {
  const timecode = START_MS + sequence * FRAGMENT_MS;
  const frames = framesOf({ timecode }, sequence + 1);
  sequenceOfPayload.set(frames[0]!.data, sequence);
  return {
    type: 'fragment',
    sequence,
    timecode,
    producerTimestampMs: timecode,
    durationMs: FRAGMENT_MS,
    lastTimestampMs: timecode + FRAGMENT_MS - 40,
    frames,
    byteLength: frames.reduce((sum, frame) => sum + frame.data.length + 13, 18),
    startsWithKeyframe: true,
    hasBFrames: false,
    tags: [],
    issues: [],
    isContinuation: false,
    arrivedAtMs: undefined,
    release: undefined,
    ...overrides,
  };
};

/**
 * A source the test feeds by hand: it begins with {@link HEADER}, items go out as pushed, and it ends when
 * told.
 */
export class FragmentChannel implements AsyncIterable<SessionItem> {
  readonly #queue: SessionItem[] = [HEADER];
  #isEnded = false;
  #wake: (() => void) | undefined;

  public push(...items: SessionItem[]): void {
    this.#queue.push(...items);
    this.#notify();
  }

  public end(): void {
    this.#isEnded = true;
    this.#notify();
  }

  public async *[Symbol.asyncIterator](): AsyncGenerator<SessionItem> {
    for (;;) {
      const next = this.#queue.shift();
      if (next !== undefined) {
        yield next;
        continue;
      }
      if (this.#isEnded) {
        return;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

export const STREAM = 'session-test';

/** An upload session against a local KVS, on a fake clock, with everything it reports recorded. */
export type Harness = {
  kvs: LocalKvs;
  clock: FakeClock;
  source: FragmentChannel;
  session: UploadSession;
  events: UploadEvent[];
  /** Each write: its connection, and whether it was the end-of-fragment marker that ends a body. */
  writes: { connection: number; isEndMarker: boolean }[];
  /** The sequences of the fragments written, in order (again when resent). */
  sent: number[];
  /** Each connection's body as written, chunk by chunk. */
  bodies: Map<number, Uint8Array[]>;
  /** How often the session asked for credentials (once per connection attempt). */
  credentialCalls: () => number;
  /** `session.run(source)`, started by {@link startHarness}. */
  run: Promise<UploadSummary>;
  /** Whether `run` has settled. */
  isDone: () => boolean;
  [Symbol.asyncDispose]: () => Promise<void>;
};

export const startHarness = async (
  setup: {
    faults?: FaultPlan;
    options?: Partial<UploadOptions>;
    credentials?: (clock: FakeClock) => UploadOptions['credentials'];
  } = {},
): Promise<Harness> => {
  // IDLE acks would count as progress and reset staleness: keep them out of the way.
  const kvs = await startLocalKvs({ faults: setup.faults ?? {}, idleAckIntervalMs: 3_600_000 });
  await createStream(kvs, STREAM, 1);
  const clock = new FakeClock();
  const source = new FragmentChannel();
  const events: UploadEvent[] = [];
  const writes: Harness['writes'] = [];
  const sent: number[] = [];
  const bodies = new Map<number, Uint8Array[]>();
  let credentialCalls = 0;
  const credentials = setup.credentials?.(clock) ?? (() => Promise.resolve({ ...kvs.credentials }));
  const session = new UploadSession({
    streamName: STREAM,
    region: kvs.region,
    credentials: () => {
      credentialCalls++;
      return credentials();
    },
    endpoint: () => Promise.resolve(kvs.url),
    producerStartTimestampMs: START_MS,
    isPersistedAckExpected: true,
    userAgent: 'kvs-put-test',
    clock,
    // The largest delay each attempt allows: backoff delays are known in advance.
    random: () => 1,
    backoff: { initialDelayMs: 1000, maxDelayMs: 16_000, resetAfterMs: 90_000 },
    onEvent: (event) => events.push(event),
    onWrite: (connection, chunks) => {
      writes.push({ connection, isEndMarker: chunks.length === 1 && chunks[0] === END_OF_FRAGMENT_BYTES });
      const body = bodies.get(connection) ?? [];
      bodies.set(connection, body);
      body.push(...chunks);
      for (const chunk of chunks) {
        const sequence = sequenceOfPayload.get(chunk);
        if (sequence !== undefined) {
          sent.push(sequence);
        }
      }
    },
    ...setup.options,
  });
  let isDone = false;
  const run = session.run(source);
  void run.then(
    () => (isDone = true),
    () => (isDone = true),
  );
  return {
    kvs,
    clock,
    source,
    session,
    events,
    writes,
    sent,
    bodies,
    credentialCalls: () => credentialCalls,
    run,
    isDone: () => isDone,
    [Symbol.asyncDispose]: async () => {
      source.end();
      await kvs.close();
    },
  };
};

/** Events of one type, narrowed. */
export const eventsOf = <T extends UploadEvent['type']>(
  events: readonly UploadEvent[],
  type: T,
): Extract<UploadEvent, { type: T }>[] =>
  events.filter((event): event is Extract<UploadEvent, { type: T }> => event.type === type);

/** Whether fragment `sequence` got an ack of this type (PERSISTED unless told). */
export const hasAck = (
  events: readonly UploadEvent[],
  sequence: number,
  eventType: 'BUFFERING' | 'RECEIVED' | 'PERSISTED' = 'PERSISTED',
): boolean =>
  eventsOf(events, 'ack').some((event) => event.sequence === sequence && event.ack.EventType === eventType);

/** Waits (polling real time, for the sockets) until `check` holds. */
export const until = (check: () => boolean | Promise<boolean>): Promise<void> => eventually(check, 10_000);

/**
 * Lets the session reconnect until `check` holds: each backoff it waits, from retry event `fromRetry` on, is
 * waited out on the fake clock. A reconnect racing the local KVS's clean-up of the old connection may be
 * refused once more; the tests that count retries exactly do not go through here.
 */
export const advanceThroughBackoff = async (
  h: Harness,
  check: () => boolean,
  fromRetry = eventsOf(h.events, 'retry').length,
): Promise<void> => {
  let next = fromRetry;
  while (!check()) {
    await until(() => check() || eventsOf(h.events, 'retry').length > next);
    const retry = eventsOf(h.events, 'retry')[next];
    if (retry !== undefined) {
      await h.clock.advance(retry.delayMs);
      next++;
    }
  }
};

/** The fragments the local KVS stored on the test stream. */
export const storedCount = async (h: Harness): Promise<number> =>
  (await storedFragments(h.kvs, STREAM)).length;
