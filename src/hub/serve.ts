import { getRequestListener } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError } from '../errors.js';
import { createHub, type HubDeps } from './app.js';
import { withHeartbeatPath } from './fast-path.js';

/** `HOST:PORT` (IPv6 in brackets) to its parts; a clear error otherwise. */
export function parseListen(text: string): { hostname: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new UserError(`--listen ${text} is not HOST:PORT`, {
      hint: '--listen 127.0.0.1:8800 (or 0.0.0.0:8800 for every interface)',
      exitCode: 2,
    });
  }
  return { hostname: match[1] ?? match[2]!, port };
}

/** A running hub HTTP server. */
export interface RunningHub {
  url: string;
  close(): Promise<void>;
}

/** Serves the hub's app on host:port, rate-limiting by the socket's remote address. */
export async function startHub(
  deps: HubDeps,
  listen: { hostname: string; port: number },
): Promise<RunningHub> {
  const hub = createHub({
    clientAddress: (c) => getConnInfo(c).remote.address ?? 'unknown',
    ...deps,
  });
  const app = getRequestListener(hub.app.fetch, { hostname: listen.hostname });
  const server = createServer(withHeartbeatPath(hub, (req, res) => void app(req, res)));
  await new Promise<void>((resolve, reject) => {
    server.listen(listen.port, listen.hostname, resolve);
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new UserError(`${listen.hostname}:${listen.port} is already in use`, {
              hint: 'stop what listens there, or pick another --listen',
            })
          : error,
      ),
    );
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    // Stops listening and ends idle keep-alive connections; long polls and other requests
    // still running get a moment to finish before their connections are cut.
    close: () =>
      new Promise((resolve) => {
        const cut = setTimeout(() => server.closeAllConnections(), 1000);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
