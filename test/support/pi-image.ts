import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/sys/process.js';

const MIB = 1024 * 1024;

async function must(command: string, args: string[], input?: string): Promise<void> {
  const result = await run(command, args, { input });
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')}: ${result.stderr}`);
}

/**
 * A small disk shaped like Raspberry Pi OS Lite, built without root: MBR, FAT32 `bootfs`
 * (cmdline.txt, config.txt, optional extra files) and ext4 `rootfs` with /etc/os-release.
 */
export async function makePiImage(
  path: string,
  options: {
    codename?: string;
    bootFiles?: Record<string, string | Buffer>;
    fill?: boolean;
    /** Partition sizes (default 40 and 8 MiB) and a file of random bytes to put in the root. */
    bootMiB?: number;
    rootMiB?: number;
    rootDataMiB?: number;
  } = {},
): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'piot-img-'));
  try {
    const boot = join(work, 'boot.fat');
    const root = join(work, 'root');
    await truncate(boot, 0).catch(() => undefined);
    await writeFile(boot, '');
    const bootMiB = options.bootMiB ?? 40;
    const rootMiB = options.rootMiB ?? 8;
    await truncate(boot, bootMiB * MIB);
    await must('mkfs.vfat', ['-F', '32', '-n', 'bootfs', '-s', '1', boot]);
    const files: Record<string, string | Buffer> = options.bootFiles ?? {
      'cmdline.txt':
        'console=serial0,115200 console=tty1 root=PARTUUID=5049f700-02 rootfstype=ext4 fsck.repair=yes rootwait\n',
      'config.txt': '[all]\narm_64bit=1\n',
    };
    if (options.fill) files['filler.bin'] = Buffer.alloc(39 * MIB, 1);
    for (const [name, content] of Object.entries(files)) {
      const local = join(work, name);
      await writeFile(local, content);
      const copied = await run('mcopy', ['-i', boot, local, `::/${name}`]);
      // Filling the partition to the brim is the point of `fill`: mcopy stops when it is full.
      if (copied.code !== 0 && !options.fill) throw new Error(`mcopy: ${copied.stderr}`);
    }
    await mkdir(join(root, 'etc'), { recursive: true });
    if (options.codename !== '') {
      await writeFile(
        join(root, 'etc', 'os-release'),
        `PRETTY_NAME="Debian GNU/Linux"\nVERSION_CODENAME=${options.codename ?? 'bookworm'}\nID=debian\n`,
      );
    }
    if (options.rootDataMiB) {
      await must('dd', [
        'if=/dev/urandom',
        `of=${join(root, 'data.bin')}`,
        'bs=1M',
        `count=${options.rootDataMiB}`,
        'status=none',
      ]);
    }
    const rootImg = join(work, 'root.ext4');
    await must('mkfs.ext4', ['-q', '-F', '-d', root, rootImg, `${rootMiB}M`]);
    await writeFile(path, '');
    await truncate(path, (2 + bootMiB + rootMiB) * MIB);
    const sectors = (mib: number) => mib * 2048;
    await must(
      'sfdisk',
      ['-q', path],
      `label: dos\nlabel-id: 0x5049f700\nstart=2048, size=${sectors(bootMiB)}, type=c\nstart=${sectors(1 + bootMiB)}, size=${sectors(rootMiB)}, type=83\n`,
    );
    const place = (file: string, atMiB: number) =>
      must('dd', [
        `if=${file}`,
        `of=${path}`,
        'bs=1M',
        `seek=${atMiB}`,
        'conv=notrunc',
        'status=none',
      ]);
    await place(boot, 1);
    await place(rootImg, 1 + bootMiB);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
