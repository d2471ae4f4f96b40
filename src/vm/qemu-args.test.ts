import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { qemuArgs, relayCommand, type QemuPlan } from './qemu-args.js';

const plan: QemuPlan = {
  arch: 'amd64',
  accel: 'tcg',
  disk: '/tmp/o.qcow2',
  diskFormat: 'qcow2',
  kernel: '/tmp/k',
  initrd: '/tmp/i',
  cmdline: 'console=ttyS0 root=PARTUUID=5049f700-02',
  memoryMiB: 1024,
  cpus: 2,
  hostForwards: [{ name: 'ssh', hostPort: 2222, guestPort: 22 }],
  guestForwards: [{ guestAddress: '10.0.2.100', guestPort: 80, hostPort: 18080 }],
  console: 'file',
  consoleLog: '/tmp/c.log',
  qmpSocket: '/tmp/q.sock',
};

describe('qemuArgs', () => {
  it('gives the guest a restricted network with loopback-only forwards', () => {
    const args = qemuArgs(plan);
    const netdev = args[args.indexOf('-netdev') + 1];
    expect(netdev).toBe(
      'user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:2222-:22,guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:18080',
    );
  });

  it('relays each guest connection of a many-connection forward through a Node process', () => {
    const args = qemuArgs({
      ...plan,
      node: '/opt/node, 20/bin/node',
      guestForwards: [
        { guestAddress: '10.0.2.100', guestPort: 80, hostPort: 18080, connections: 'one' },
        { guestAddress: '10.0.2.101', guestPort: 80, hostPort: 18081, connections: 'many' },
      ],
    });
    const netdev = args[args.indexOf('-netdev') + 1]!;
    expect(netdev).toContain(',guestfwd=tcp:10.0.2.100:80-tcp:127.0.0.1:18080,');
    const many = netdev.slice(netdev.indexOf('guestfwd=tcp:10.0.2.101:80-cmd:'));
    // QEMU reads ",," as a comma inside the option, so the relay command comes back whole.
    expect(many.replace('guestfwd=tcp:10.0.2.101:80-cmd:', '').replaceAll(',,', ',')).toBe(
      relayCommand('/opt/node, 20/bin/node', 18081),
    );
    expect(many.replaceAll(',,', '')).not.toContain(',');
    expect(relayCommand('/usr/bin/node', 18081)).toMatch(
      /^'\/usr\/bin\/node' --no-warnings -e '[^']+' 18081$/,
    );
  });

  it('the relay carries many connections both ways, half-closes included, as QEMU runs it', async () => {
    // The host service reads a whole request (until the client's half-close), then answers.
    const service = createServer({ allowHalfOpen: true }, (socket) => {
      let data = '';
      socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
      socket.on('end', () => socket.end(`got ${data}`));
    });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    const port = (service.address() as AddressInfo).port;
    // QEMU gives the relay the guest's connection as stdin, stdout and stderr; a Unix socket
    // accepted here stands in for it, and sh splits the command as QEMU does.
    const guestSide = createServer((socket: Socket) => {
      spawn('sh', ['-c', `exec ${relayCommand(process.execPath, port)}`], {
        stdio: [socket, socket, socket],
      });
    });
    const path = join(mkdtempSync(join(tmpdir(), 'piot-relay-')), 'guest.sock');
    await new Promise<void>((resolve) => guestSide.listen(path, resolve));
    const request = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const client = connect({ path, allowHalfOpen: true });
        let answer = '';
        client.on('data', (chunk: Buffer) => (answer += chunk.toString()));
        client.on('end', () => resolve(answer));
        client.on('error', reject);
        client.end(text);
      });
    try {
      expect(await Promise.all(['a', 'b', 'c'].map(request))).toEqual(['got a', 'got b', 'got c']);
      expect(await request('x'.repeat(1 << 20))).toBe(`got ${'x'.repeat(1 << 20)}`);
    } finally {
      guestSide.close();
      service.close();
    }
  });

  it('boots the boot partition files with the command line, and no reboot', () => {
    const args = qemuArgs(plan).join(' ');
    expect(args).toContain(
      '-kernel /tmp/k -initrd /tmp/i -append console=ttyS0 root=PARTUUID=5049f700-02 norandmaps',
    );
    expect(args).toContain('-cpu max -accel tcg');
    expect(args).toContain('-no-reboot');
    expect(args).toContain('-chardev file,id=con0,path=/tmp/c.log,append=on -serial chardev:con0');
  });

  it('turns address space randomization off only under TCG, and only once', () => {
    expect(qemuArgs({ ...plan, accel: 'kvm' }).join(' ')).toMatch(/PARTUUID=5049f700-02 -drive/);
    const again = qemuArgs({ ...plan, cmdline: `${plan.cmdline} norandmaps` }).join(' ');
    expect(again.match(/norandmaps/g)).toHaveLength(1);
  });

  it('uses the virt machine for arm64 and raspi3b for a real Raspberry Pi OS image', () => {
    expect(qemuArgs({ ...plan, arch: 'arm64' }).join(' ')).toContain('-M virt -cpu cortex-a57');
    expect(
      qemuArgs({ ...plan, arch: 'arm64', raspberryPi: true, dtb: '/tmp/b.dtb' }).join(' '),
    ).toContain('-M raspi3b -m 1024 -dtb /tmp/b.dtb');
  });

  it('starts the guest clock where asked', () => {
    expect(qemuArgs({ ...plan, clock: '2027-01-01T02:59:00Z' }).join(' ')).toContain(
      '-rtc base=2027-01-01T02:59:00,clock=vm',
    );
  });
});
