import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { PutMediaConnection } from '../../src/kvs/put-media-connection.js';

/**
 * A bare TCP server that answers the PutMedia request with a 200 at once (as the service does: it checks
 * the headers only) and keeps every byte the client sends, so the test sees the body as it is on the wire.
 */
const startRecorder = async () => {
  const sockets: Socket[] = [];
  let received = Buffer.alloc(0);
  let markEnded = (): void => undefined;
  const ended = new Promise<void>((resolve) => {
    markEnded = resolve;
  });
  const server = createServer((socket) => {
    sockets.push(socket);
    let isAnswered = false;
    socket.on('data', (data: Buffer) => {
      received = Buffer.concat([received, data]);
      if (!isAnswered && received.includes('\r\n\r\n')) {
        isAnswered = true;
        socket.write(
          'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
        );
      }
      if (received.subarray(-5).toString('latin1') === '0\r\n\r\n') {
        socket.end('0\r\n\r\n');
        markEnded();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    ended,
    /** The request body as sent (everything after the header block). */
    body: () => received.subarray(received.indexOf('\r\n\r\n') + 4).toString('latin1'),
    close: () => {
      for (const socket of sockets) {
        socket.destroy();
      }
      server.close();
    },
  };
};

const open = (url: string) =>
  PutMediaConnection.open(
    {
      endpoint: url,
      streamName: 'wire',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
      timecodeMode: 'absolute',
      producerStartTimestampMs: 1_700_000_000_000,
      userAgent: 'kvs-put-test',
    },
    { onAck: () => undefined },
  );

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) {
    cleanup();
  }
});

describe('PutMediaConnection on the wire', () => {
  it('sends each write as one HTTP chunk, whatever its number of pieces, and ends the body with the last chunk', async () => {
    const recorder = await startRecorder();
    cleanups.push(recorder.close);
    const connection = await open(recorder.url);
    const flushed: (Error | undefined)[] = [];
    await connection.write(
      [Buffer.from('abc'), Buffer.from('defgh'), new Uint8Array(20).fill(0x78)],
      (error) => flushed.push(error),
    );
    await connection.write([Buffer.from('tail')]);
    // Nothing to send: no chunk at all (a zero-size chunk would end the body).
    await connection.write([], (error) => flushed.push(error));
    connection.end();
    await recorder.ended;
    expect(recorder.body()).toBe(`1c\r\nabcdefgh${'x'.repeat(20)}\r\n4\r\ntail\r\n0\r\n\r\n`);
    expect(flushed).toEqual([undefined, undefined]);
    expect(await connection.closed).toBeUndefined();
  });

  it('a write after the connection closed fails, and its flush callback gets the error', async () => {
    const recorder = await startRecorder();
    cleanups.push(recorder.close);
    const connection = await open(recorder.url);
    connection.abort(new Error('gone'));
    await connection.closed;
    const flushed: (Error | undefined)[] = [];
    await expect(connection.write([Buffer.from('late')], (error) => flushed.push(error))).rejects.toThrow();
    expect(flushed).toHaveLength(1);
    expect(flushed[0]).toBeInstanceOf(Error);
  });
});
