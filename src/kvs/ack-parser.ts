import type { Ack } from './ack.js';
import { AckEventType } from './ack.js';

const EVENT_TYPES: ReadonlySet<string> = new Set(Object.values(AckEventType));

/**
 * Parses the PutMedia ack stream: JSON objects, one per chunk and newline-terminated on the wire, but any
 * split of the bytes (an ack across chunks, several in one) yields the same acks. Objects are delimited by
 * brace depth outside strings, so neither a missing newline nor a long ack breaks it; there is no size cap.
 * FragmentNumber stays a string (47 digits do not fit a double).
 */
export class AckParser {
  private readonly decoder = new TextDecoder();
  private text = '';
  private depth = 0;
  private inString = false;
  private isEscaped = false;
  /** Index in `text` where the current object began, or -1 between objects. */
  private objectStart = -1;
  private scanned = 0;

  /** Feeds bytes or text; returns the acks completed by it. Malformed objects are reported via `onInvalid`. */
  public push(chunk: Uint8Array | string, onInvalid?: (text: string) => void): Ack[] {
    this.text += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const acks: Ack[] = [];
    const text = this.text;
    let i = this.scanned;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.isEscaped) {
          this.isEscaped = false;
        } else if (c === 0x5c) {
          this.isEscaped = true;
        } else if (c === 0x22) {
          this.inString = false;
        }
        continue;
      }
      if (c === 0x22 && this.depth > 0) {
        this.inString = true;
      } else if (c === 0x7b) {
        if (this.depth === 0) {
          this.objectStart = i;
        }
        this.depth++;
      } else if (c === 0x7d && this.depth > 0) {
        this.depth--;
        if (this.depth === 0) {
          const json = text.slice(this.objectStart, i + 1);
          const ack = parseAck(json);
          if (ack === undefined) {
            onInvalid?.(json);
          } else {
            acks.push(ack);
          }
          this.objectStart = -1;
        }
      }
    }
    // Keep only the unfinished object (or nothing) for the next push.
    if (this.objectStart >= 0) {
      this.text = text.slice(this.objectStart);
      this.scanned = this.text.length;
      this.objectStart = 0;
    } else {
      this.text = '';
      this.scanned = 0;
    }
    return acks;
  }
}

/** Validates one ack object; undefined when it is not an ack (PIC also rejects ERROR without ErrorId). */
export const parseAck = (json: string): Ack | undefined => {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) {
    return undefined;
  }
  const record = value as Record<string, unknown>;
  const eventType = record['EventType'];
  if (typeof eventType !== 'string' || !EVENT_TYPES.has(eventType)) {
    return undefined;
  }
  const ack: Ack = { EventType: eventType as AckEventType };
  const timecode = record['FragmentTimecode'];
  if (typeof timecode === 'number') {
    ack.FragmentTimecode = timecode;
  }
  const fragmentNumber = record['FragmentNumber'];
  if (typeof fragmentNumber === 'string') {
    ack.FragmentNumber = fragmentNumber;
  }
  const errorId = record['ErrorId'];
  if (typeof errorId === 'number') {
    ack.ErrorId = errorId;
  }
  const errorCode = record['ErrorCode'];
  if (typeof errorCode === 'string') {
    ack.ErrorCode = errorCode;
  }
  if (ack.EventType === AckEventType.Error && ack.ErrorId === undefined) {
    return undefined;
  }
  return ack;
};
