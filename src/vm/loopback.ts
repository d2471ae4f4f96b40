import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A server listening on 127.0.0.1. */
export interface LoopbackServer {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Drops open connections and stops listening. */
  close(): Promise<void>;
}

/** Starts server on 127.0.0.1 (a free port unless given); rejects if the port is taken. */
export async function listenOnLoopback(
  server: Server,
  options: { port?: number; onClose?: () => void } = {},
): Promise<LoopbackServer> {
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise((resolveClose) => {
        options.onClose?.();
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}
