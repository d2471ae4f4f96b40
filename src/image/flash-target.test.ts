import { describe, expect, it } from 'vitest';
import type { Drive } from '../sys/drives.js';
import { checkTarget, formatBytes, refusalError, type Target } from './flash-target.js';

const GiB = 1024 ** 3;

function drive(overrides: Partial<Drive> = {}): Drive {
  return {
    name: 'sdb',
    path: '/dev/sdb',
    devNumber: '8:16',
    size: 32 * GiB,
    removable: true,
    readOnly: false,
    transport: 'usb',
    partitions: [],
    mounts: [],
    system: false,
    ...overrides,
  };
}
const on = (d: Drive): Target => ({ kind: 'device', path: d.path, drive: d });
const reasons = (target: Target, options = {}, size = 2 * GiB) =>
  checkTarget(target, size, options).refusals.map((r) => r.reason);

describe('checkTarget', () => {
  it('lets a removable, unmounted, big enough card and any other file through', () => {
    expect(checkTarget(on(drive()), 2 * GiB)).toEqual({ refusals: [], unmount: [] });
    const file: Target = { kind: 'file', path: '/tmp/x.img', fresh: false, sameAsImage: false };
    expect(reasons(file)).toEqual([]);
  });

  it('never allows the system disk', () => {
    const system = drive({
      name: 'nvme0n1',
      path: '/dev/nvme0n1',
      removable: false,
      transport: 'nvme',
      system: true,
      mounts: [
        { device: 'nvme0n1p1', source: '/dev/nvme0n1p1', mountpoint: '/boot/efi' },
        { device: 'nvme0n1p2', source: '/dev/nvme0n1p2', mountpoint: '/' },
        { device: 'nvme0n1p3', source: '/dev/nvme0n1p3', mountpoint: '[SWAP]' },
      ],
    });
    const plan = checkTarget(on(system), 2 * GiB, { force: true, unmount: true });
    expect(plan.unmount).toEqual([]);
    expect(refusalError(plan)?.message).toBe(
      '/dev/nvme0n1 holds the running system (/ (nvme0n1p2), [SWAP] (nvme0n1p3))',
    );
  });

  it('refuses a mounted card even with --force; --unmount plans the unmounts instead', () => {
    const mounts = [
      { device: 'sdb1', source: '/dev/sdb1', mountpoint: '/media/me/boot fs' },
      { device: 'sdb3', source: '/dev/sdb3', mountpoint: '[SWAP]' },
    ];
    const card = on(drive({ mounts }));
    const error = refusalError(checkTarget(card, GiB, { force: true }));
    expect(error?.message).toBe(
      '/dev/sdb has mounted partitions: /media/me/boot fs (sdb1), [SWAP] (sdb3)',
    );
    expect(error?.hint).toBe(
      "sudo umount '/media/me/boot fs' and sudo swapoff /dev/sdb3, or add --unmount to let PioT unmount them",
    );
    expect(checkTarget(card, GiB, { unmount: true })).toEqual({ refusals: [], unmount: mounts });
  });

  it('refuses a too small card, a partition and a fixed disk unless forced', () => {
    const small = on(drive({ size: 1.5 * GiB }));
    expect(refusalError(checkTarget(small, 2 * GiB))?.message).toBe(
      '/dev/sdb (1.5 GiB) is smaller than the image (2 GiB)',
    );
    const sata = drive({
      name: 'sda',
      path: '/dev/sda',
      removable: false,
      transport: 'sata',
      model: 'WDC',
    });
    expect(refusalError(checkTarget(on(sata), GiB))?.message).toBe(
      '/dev/sda is not a removable drive (sata WDC)',
    );
    const card = drive({
      partitions: [
        { name: 'sdb1', path: '/dev/sdb1', devNumber: '8:17', size: 3 * GiB, mounts: [] },
      ],
    });
    const partition: Target = {
      kind: 'device',
      path: '/dev/sdb1',
      drive: card,
      partition: card.partitions[0],
    };
    expect(reasons(partition)).toEqual(['partition']);
    for (const target of [small, on(sata), partition]) {
      expect(reasons(target, { force: true })).toEqual([]);
    }
    // A USB SSD has removable=0 yet is a candidate; so is an SD slot.
    expect(reasons(on(drive({ removable: false, transport: 'mmc' })))).toEqual([]);
  });

  it('refuses a read-only card and an empty reader even with --force', () => {
    expect(reasons(on(drive({ readOnly: true })), { force: true })).toEqual(['read-only']);
    expect(reasons(on(drive({ size: 0 })), { force: true })).toEqual(['no-medium']);
  });

  it('lists every refusal in one error', () => {
    const error = refusalError(
      checkTarget(on(drive({ size: GiB, removable: false, transport: undefined })), 2 * GiB),
    );
    expect(error?.message).toBe(
      'refusing to flash:\n  - /dev/sdb (1 GiB) is smaller than the image (2 GiB)\n  - /dev/sdb is not a removable drive',
    );
  });

  it('refuses to write the image onto itself', () => {
    const self: Target = { kind: 'file', path: '/tmp/a.img', fresh: false, sameAsImage: true };
    expect(reasons(self, { force: true })).toEqual(['same-file']);
  });
});

describe('formatBytes', () => {
  it('shows one decimal under 100 and none above', () => {
    expect(
      [0, 512, 3584, 312 * 1024 ** 2, 2.5 * GiB, 29.72 * GiB, 2 * GiB].map(formatBytes),
    ).toEqual(['0 B', '512 B', '3.5 KiB', '312 MiB', '2.5 GiB', '29.7 GiB', '2 GiB']);
  });
});
