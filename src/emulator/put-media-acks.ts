/**
 * The acks of one PutMedia answer (kvs-api.md §6.2): one JSON object plus `\n` per HTTP chunk, in the order they
 * were queued. With `x-amzn-fragment-acknowledgment-required: 0` only ERROR acks are sent; the fault plan may
 * delay every ack or withhold some.
 */
import type { ServerResponse } from 'node:http';
import type { Ack } from '../kvs/ack.js';
import { AckEventType } from '../kvs/ack.js';
import type { Clock } from '../util/clock.js';
import { sleep } from '../util/clock.js';
import type { IngestCounters } from './data-plane.js';
import type { PutMediaFaults } from './fault-injector.js';

/** The fragment an ack is about: its place in the connection (fault rules count by it), number and timecode. */
export type AckedFragment = {
  readonly index: number;
  readonly fragmentNumber: string;
  readonly timecode: number;
};

/** What an ERROR ack says beyond its fragment. */
export type AckError = { errorId: number; errorCode: string; timecode?: number | undefined };

export type AckWriterOptions = {
  response: ServerResponse;
  /** `x-amzn-fragment-acknowledgment-required`: false sends ERROR acks only. */
  isAckRequired: boolean;
  faults: Pick<PutMediaFaults, 'ackDelayMs' | 'withholdAcks'>;
  /** Where sent acks are counted. */
  counters: Pick<IngestCounters, 'acksSent' | 'errorAcksSent'>;
  /** What `ackDelayMs` waits on. */
  clock: Clock;
};

export class AckWriter {
  private readonly options: AckWriterOptions;
  private chain: Promise<void> = Promise.resolve();

  public constructor(options: AckWriterOptions) {
    this.options = options;
  }

  /** Queues an ack; it is written after every ack queued before it. */
  public send(eventType: AckEventType, fragment: AckedFragment | undefined, error?: AckError): void {
    if (eventType !== AckEventType.Error && !this.isSent(eventType, fragment)) {
      return;
    }
    // Keys in the service's order [OBS]: EventType, FragmentTimecode, FragmentNumber, ErrorCode, ErrorId.
    const ack: Ack = { EventType: eventType };
    const timecode = fragment?.timecode ?? error?.timecode;
    if (timecode !== undefined) {
      ack.FragmentTimecode = timecode;
    }
    if (fragment !== undefined) {
      ack.FragmentNumber = fragment.fragmentNumber;
    }
    if (error !== undefined) {
      ack.ErrorCode = error.errorCode;
      ack.ErrorId = error.errorId;
    }
    const text = `${JSON.stringify(ack)}\n`;
    const delayMs = this.options.faults.ackDelayMs;
    const { counters, clock } = this.options;
    this.chain = this.chain.then(async () => {
      if (delayMs > 0) {
        await sleep(clock, delayMs);
      }
      await this.write(text);
      counters.acksSent++;
      if (eventType === AckEventType.Error) {
        counters.errorAcksSent++;
      }
    });
  }

  /** Resolves once every ack queued so far is written (or the answer is gone). */
  public written(): Promise<void> {
    return this.chain;
  }

  private isSent(eventType: AckEventType, fragment: AckedFragment | undefined): boolean {
    if (!this.options.isAckRequired) {
      return false;
    }
    return (
      fragment === undefined ||
      !this.options.faults.withholdAcks.some(
        (rule) =>
          fragment.index >= rule.fromFragment &&
          fragment.index <= rule.toFragment &&
          rule.events.has(eventType),
      )
    );
  }

  /** Writes one chunk of the answer; resolves once it is handed to the socket (or the answer is gone). */
  private write(text: string): Promise<void> {
    const response = this.options.response;
    if (response.writableEnded || response.destroyed) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      response.once('close', resolve);
      response.write(text, () => {
        response.off('close', resolve);
        resolve();
      });
    });
  }
}
