/**
 * The local KVS's one loopback HTTP/1.1 server (kvs-api.md §11 item 1): listening, with errors a user can act on,
 * the two ways Node answers a request before any handler runs (a malformed request, `Expect: 100-continue`), and
 * closing.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCode, KvsPutError } from '../errors.js';
import { DEFAULT_LOCAL_KVS_HOST } from './local-kvs-defaults.js';
import type { RequestHandler } from './request-router.js';

export type HttpServerOptions = {
  host: string;
  /** 0 picks a free port. */
  port: number;
  handle: RequestHandler;
  /** Whether a request sent with `Expect: 100-continue` gets its answer instead of a `100 Continue`. */
  isContinueAnswered: (request: IncomingMessage) => boolean;
  /**
   * A truncated or malformed request on `socket`: returns whether it was taken care of (an open PutMedia answers
   * it); otherwise Node's own handling applies (400 when nothing was answered yet, then close).
   */
  onClientError: (socket: Duplex) => boolean;
  logger: (line: string) => void;
};

export type HttpServer = {
  /** `http://<host>:<port>`, no trailing slash; a wildcard host is reached at 127.0.0.1. */
  readonly url: string;
  /** Stops listening and drops every open connection. */
  close: () => Promise<void>;
};

/** Starts the server and resolves once it listens. */
export const startHttpServer = async (options: HttpServerOptions): Promise<HttpServer> => {
  const server = createServer({ requestTimeout: 0 }, (request, response) => {
    void options.handle(request, response);
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (options.onClientError(socket)) {
      return;
    }
    const response = (socket as { _httpMessage?: ServerResponse })._httpMessage;
    if (socket.writable && error.code !== 'ECONNRESET' && response?.headersSent !== true) {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    }
    socket.destroy();
  });
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (!options.isContinueAnswered(request)) {
      response.writeContinue();
    }
    void options.handle(request, response);
  });
  await listen(server, options.host, options.port);
  const address = server.address() as AddressInfo;
  server.on('error', (error) => options.logger(`local KVS server error: ${error.message}`));
  return {
    url: `http://${urlHost(options.host)}:${address.port}`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
};

const listen = async (server: Server, host: string, port: number): Promise<void> => {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'EADDRINUSE'
        ? 'address in use'
        : code === 'EACCES'
          ? 'permission denied'
          : code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND'
            ? 'no such address on this machine'
            : (code ?? String(error));
    const suggestion =
      code === 'EADDRINUSE'
        ? 'stop the process using that port, pick another with --port, or use --port 0 for any free port'
        : code === 'EACCES'
          ? 'ports below 1024 need privileges: pick a port from 1024 up, or --port 0'
          : 'check --host: it must be an address of this machine (127.0.0.1 by default)';
    throw new KvsPutError(ErrorCode.Io, `cannot listen on ${host}:${port}: ${reason}`, {
      context: { host, port, code },
      suggestion,
      cause: error,
    });
  }
};

const urlHost = (host: string): string => {
  if (host === '0.0.0.0' || host === '::' || host === '') {
    return DEFAULT_LOCAL_KVS_HOST;
  }
  return host.includes(':') ? `[${host}]` : host;
};
