/**
 * A raw HTTP/1.1 client on a TCP socket, for what `node:http` hides: the exact chunk framing of an answer, and a
 * request sent exactly as AWS's C producer sends it (Host without the port, `Expect: 100-continue`, body chunks).
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { once } from 'node:events';

export type RawAnswer = {
  statusLine: string;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  /** Every line before the final status line that was an interim (1xx) status. */
  interimStatusLines: string[];
  /** The payload of each HTTP chunk, in order (chunked answers). */
  chunks: Buffer[];
  /** Whether the terminating zero-length chunk arrived. */
  isComplete: boolean;
};

/** Decodes an HTTP/1.1 answer as bytes arrive; `feed` returns true once the answer is complete. */
export class RawAnswerParser {
  public readonly answer: RawAnswer = {
    statusLine: '',
    headers: {},
    interimStatusLines: [],
    chunks: [],
    isComplete: false,
  };

  private buffer = Buffer.alloc(0);
  private stage: 'head' | 'chunks' | 'done' = 'head';

  public feed(data: Buffer): boolean {
    this.buffer = Buffer.concat([this.buffer, data]);
    for (;;) {
      if (this.stage === 'head') {
        const end = this.buffer.indexOf('\r\n\r\n');
        if (end < 0) {
          return false;
        }
        const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
        this.buffer = this.buffer.subarray(end + 4);
        const statusLine = lines[0] ?? '';
        if (/^HTTP\/1\.1 1\d\d/.test(statusLine)) {
          this.answer.interimStatusLines.push(statusLine);
          continue;
        }
        this.answer.statusLine = statusLine;
        for (const line of lines.slice(1)) {
          const colon = line.indexOf(':');
          this.answer.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        this.stage = this.answer.headers['transfer-encoding'] === 'chunked' ? 'chunks' : 'done';
        if (this.stage === 'done') {
          this.answer.chunks.push(this.buffer);
          this.answer.isComplete = true;
          return true;
        }
        continue;
      }
      if (this.stage === 'chunks') {
        const lineEnd = this.buffer.indexOf('\r\n');
        if (lineEnd < 0) {
          return false;
        }
        const size = Number.parseInt(this.buffer.subarray(0, lineEnd).toString('latin1'), 16);
        if (this.buffer.length < lineEnd + 2 + size + 2) {
          return false;
        }
        const payload = this.buffer.subarray(lineEnd + 2, lineEnd + 2 + size);
        this.buffer = this.buffer.subarray(lineEnd + 2 + size + 2);
        if (size === 0) {
          this.stage = 'done';
          this.answer.isComplete = true;
          return true;
        }
        this.answer.chunks.push(Buffer.from(payload));
        continue;
      }
      return true;
    }
  }
}

export type RawExchange = {
  socket: Socket;
  parser: RawAnswerParser;
  /** Resolves when the answer is complete or the socket closes. */
  done: Promise<RawAnswer>;
  /** Resolves once the final status line and headers arrived (or the socket closed). */
  head: Promise<RawAnswer>;
  /** Sends one body chunk in chunked framing. */
  writeChunk: (bytes: Uint8Array) => Promise<void>;
  /** Sends the terminating chunk. */
  endBody: () => void;
};

/** Opens a socket to `port`, sends the request head, and parses the answer as it comes. */
export const rawRequest = async (port: number, requestText: string): Promise<RawExchange> => {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  socket.setNoDelay(true);
  const parser = new RawAnswerParser();
  let onHead: (answer: RawAnswer) => void = () => undefined;
  const head = new Promise<RawAnswer>((resolve) => {
    onHead = resolve;
  });
  const done = new Promise<RawAnswer>((resolve) => {
    socket.on('data', (data: Buffer) => {
      const isDone = parser.feed(data);
      if (parser.answer.statusLine !== '') {
        onHead(parser.answer);
      }
      if (isDone) {
        resolve(parser.answer);
      }
    });
    const finish = (): void => {
      onHead(parser.answer);
      resolve(parser.answer);
    };
    socket.on('close', finish);
    socket.on('error', finish);
  });
  socket.write(requestText);
  const writeChunk = async (bytes: Uint8Array): Promise<void> => {
    if (socket.destroyed || bytes.length === 0) {
      return;
    }
    const ok =
      socket.write(`${bytes.length.toString(16)}\r\n`) && socket.write(bytes) && socket.write('\r\n');
    if (!ok && !socket.destroyed) {
      await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
    }
  };
  const endBody = (): void => {
    if (!socket.destroyed) {
      socket.write('0\r\n\r\n');
    }
  };
  return { socket, parser, done, head, writeChunk, endBody };
};

/** The request head text of a POST with these headers (in this order). */
export const requestHead = (path: string, headers: Record<string, string>): string =>
  `POST ${path} HTTP/1.1\r\n${Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('')}\r\n`;
