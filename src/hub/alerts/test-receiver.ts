// Test helper: a webhook receiver on a real socket. Not part of the hub.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A webhook receiver on 127.0.0.1 recording what it gets; `failures` answers 500 first. */
export async function receiver(): Promise<{
  url: string;
  got: { path: string; headers: IncomingHttpHeaders; body: string }[];
  failures: { count: number };
  close(): Promise<void>;
}> {
  const got: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
  const failures = { count: 0 };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (failures.count > 0) {
        failures.count--;
        res.writeHead(500).end();
        return;
      }
      got.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    got,
    failures,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
