import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { kernelArch, parseConfigTxt, readBootFiles } from '../src/vm/boot-files.js';
import { fakeKernel, makeBootDisk } from './support/boot-disk.js';

const root = join(import.meta.dirname, '..');

describe('boot files', () => {
  it('reads kernel, initramfs and cmdline.txt from the FAT partition, honouring config.txt', async () => {
    const disk = makeBootDisk({
      'config.txt':
        '[pi4]\nkernel=other.img\n[all]\nkernel=mykernel\ninitramfs myinitrd followkernel\n',
      mykernel: fakeKernel(),
      myinitrd: 'INITRD',
      'cmdline.txt': 'console=ttyS0 root=PARTUUID=abcd-02 rootwait\n',
    });
    const files = await readBootFiles(disk);
    expect(files.kernelName).toBe('mykernel');
    expect(files.initrd?.toString()).toBe('INITRD');
    expect(files.cmdline).toBe('console=ttyS0 root=PARTUUID=abcd-02 rootwait');
    expect(files.arch).toBe('amd64');
    expect(files.raspberryPi).toBe(false);
  });

  it('names what is missing', async () => {
    await expect(readBootFiles(makeBootDisk({ 'cmdline.txt': 'x' }))).rejects.toThrow(
      /no kernel on the boot partition/,
    );
    const notADisk = join(mkdtempSync(join(tmpdir(), 'piot-')), 'x.img');
    writeFileSync(notADisk, Buffer.alloc(4096));
    await expect(readBootFiles(notADisk)).rejects.toThrow(/has no FAT boot partition/);
  });

  it('tells kernel architectures apart', () => {
    expect(kernelArch(fakeKernel())).toBe('amd64');
    const arm = Buffer.alloc(4096);
    arm.write('ARM\x64', 0x38, 'latin1');
    expect(kernelArch(arm)).toBe('arm64');
    expect(kernelArch(Buffer.alloc(4096))).toBeUndefined();
  });

  it('reads kernel= and initramfs only from sections a Pi 3/4 would use', () => {
    expect(parseConfigTxt('[cm5]\nkernel=a\n[all]\ninitramfs b followkernel\n')).toEqual({
      initramfs: 'b',
    });
  });

  it('piot vm says how to install QEMU when it is missing', () => {
    const disk = makeBootDisk({ vmlinuz: fakeKernel(), 'cmdline.txt': 'console=ttyS0' });
    // A PATH with node and nothing else.
    const bin = mkdtempSync(join(tmpdir(), 'piot-path-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const result = spawnSync(
      process.execPath,
      [
        join(root, 'dist/piot.js'),
        'vm',
        disk,
        '--persist',
        '--console',
        join(dirname(disk), 'c.log'),
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, PATH: bin, NO_COLOR: '1' },
        timeout: 30_000,
      },
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/error: qemu-system-x86_64 is not installed/);
    expect(result.stderr).toMatch(/hint: sudo apt-get install qemu-system-x86/);
  });
});
