import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { runHealthCheck } from './health-check.js';

describe('health checks', () => {
  it('passes on 2xx, names the status otherwise, and the error when nothing listens', async () => {
    let status = 200;
    const server = createServer((_, res) => res.writeHead(status).end('x'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
    const options = { cwd: tmpdir(), user: undefined };
    try {
      expect(await runHealthCheck({ http: url }, options)).toBeUndefined();
      status = 503;
      expect(await runHealthCheck({ http: url }, options)).toBe(`health check ${url} answered 503`);
    } finally {
      server.close();
      server.closeAllConnections();
    }
    expect(await runHealthCheck({ http: url }, options)).toMatch(/failed \(ECONNREFUSED\)/);
  });

  it('runs a command in the release directory and reports its exit and last line', async () => {
    const options = { cwd: tmpdir(), user: undefined };
    expect(await runHealthCheck({ command: 'test "$PWD" = "$(pwd)"' }, options)).toBeUndefined();
    expect(await runHealthCheck({ command: 'echo not ready; exit 4' }, options)).toBe(
      'health check "echo not ready; exit 4" exited 4: not ready',
    );
  });
});
