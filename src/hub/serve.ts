import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError } from '../errors.js';
import { createApp, type HubDeps } from './app.js';

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
  const app = createApp({
    clientAddress: (c) => getConnInfo(c).remote.address ?? 'unknown',
    ...deps,
  });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: listen.hostname, port: listen.port }, () =>
      resolve(s),
    );
    s.once('error', (error: NodeJS.ErrnoException) =>
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
        const http = server as Server;
        const cut = setTimeout(() => http.closeAllConnections(), 1000);
        server.close(() => {
          clearTimeout(cut);
          resolve();
        });
        http.closeIdleConnections();
      }),
  };
}
