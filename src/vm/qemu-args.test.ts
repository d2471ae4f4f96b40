import { describe, expect, it } from 'vitest';
import { qemuArgs, type QemuPlan } from './qemu-args.js';

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

  it('boots the boot partition files with the command line, and no reboot', () => {
    const args = qemuArgs(plan).join(' ');
    expect(args).toContain(
      '-kernel /tmp/k -initrd /tmp/i -append console=ttyS0 root=PARTUUID=5049f700-02',
    );
    expect(args).toContain('-cpu max -accel tcg');
    expect(args).toContain('-no-reboot');
    expect(args).toContain('-chardev file,id=con0,path=/tmp/c.log,append=on -serial chardev:con0');
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
