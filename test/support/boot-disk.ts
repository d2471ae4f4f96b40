import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fake x86 kernel: only the bzImage header magic matters to PioT. */
export function fakeKernel(): Buffer {
  const kernel = Buffer.alloc(4096);
  kernel.write('MZ', 0, 'latin1');
  kernel.write('HdrS', 0x202, 'latin1');
  return kernel;
}

/** A small MBR disk with a FAT boot partition holding the given files (built without mounting). */
export function makeBootDisk(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'piot-bootfs-'));
  const fat = join(dir, 'boot.fat');
  const disk = join(dir, 'disk.img');
  execFileSync('/usr/sbin/mkfs.vfat', ['-C', '-n', 'bootfs', fat, String(16 * 1024)], {
    stdio: 'ignore',
  });
  for (const [name, content] of Object.entries(files)) {
    const local = join(dir, name);
    writeFileSync(local, content);
    execFileSync('mcopy', ['-i', fat, local, `::${name}`], {
      env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
    });
  }
  execFileSync('truncate', ['-s', '24M', disk]);
  execFileSync('/usr/sbin/sfdisk', ['--quiet', disk], {
    input: 'label: dos\nstart=2048, size=32768, type=c\n',
  });
  execFileSync('dd', [
    `if=${fat}`,
    `of=${disk}`,
    'bs=512',
    'seek=2048',
    'conv=notrunc',
    'status=none',
  ]);
  return disk;
}
