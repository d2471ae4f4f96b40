import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { sshBanner } from './ssh.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A loopback server that does `greet` with each connection; its port. */
async function server(greet: (socket: Socket) => void): Promise<number> {
  const sockets: Socket[] = [];
  const s = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    greet(socket);
  });
  servers.push(s);
  s.on('close', () => sockets.forEach((socket) => socket.destroy()));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const address = s.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const target = (port: number) => ({ port, user: 'pi', key: '/dev/null' });

describe('sshBanner', () => {
  it('is true when the server greets with an SSH banner, in one piece or in several', async () => {
    const whole = await server((s) => s.write('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'));
    expect(await sshBanner(target(whole), 2000)).toBe(true);
    const split = await server((s) => {
      s.write('SS');
      setTimeout(() => s.write('H-2.0-x\r\n'), 50);
    });
    expect(await sshBanner(target(split), 2000)).toBe(true);
  });

  it('is false for another greeting, a closed connection, silence, or no server', async () => {
    const http = await server((s) => s.write('HTTP/1.1 400 Bad Request\r\n\r\n'));
    expect(await sshBanner(target(http), 2000)).toBe(false);
    const closing = await server((s) => s.end());
    expect(await sshBanner(target(closing), 2000)).toBe(false);
    // A port forward that accepts and then waits (a booting guest) is silent until the limit.
    const silent = await server(() => undefined);
    const started = Date.now();
    expect(await sshBanner(target(silent), 300)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    const gone = await server(() => undefined);
    await new Promise((r) => servers.pop()!.close(r));
    expect(await sshBanner(target(gone), 2000)).toBe(false);
  });
});
