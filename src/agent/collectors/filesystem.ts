import { join } from 'node:path';
import { flag, gauge, readOptional } from './read.js';
import type { Collector, CollectorContext, FsStats, Sample } from './types.js';

/** One line of /proc/self/mounts. */
export interface Mount {
  device: string;
  mountpoint: string;
  fstype: string;
  options: string[];
}

// node_exporter's defaults, except overlay: a Pi with raspi-config's overlay file system has it on /.
const PSEUDO_FS = new Set(
  'autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts devtmpfs fusectl hugetlbfs iso9660 mqueue nsfs proc procfs pstore rpc_pipefs securityfs selinuxfs squashfs erofs sysfs tracefs'.split(
    ' ',
  ),
);
const PSEUDO_MOUNT =
  /^\/(dev|proc|sys|run\/credentials\/.+|var\/lib\/docker\/.+|var\/lib\/containers\/storage\/.+)($|\/)/;
const STATFS_TIMEOUT_MS = 5000;

const size = gauge('node_filesystem_size_bytes', 'Filesystem size in bytes.');
const free = gauge('node_filesystem_free_bytes', 'Filesystem free space in bytes.');
const avail = gauge(
  'node_filesystem_avail_bytes',
  'Filesystem space available to non-root users in bytes.',
);
const files = gauge('node_filesystem_files', 'Filesystem total file nodes.');
const filesFree = gauge('node_filesystem_files_free', 'Filesystem total free file nodes.');
const readonly = gauge('node_filesystem_readonly', 'Filesystem read-only status.');
const deviceError = gauge(
  'node_filesystem_device_error',
  'Whether an error occurred while getting statistics for the given device.',
);
const rootReadonly = gauge(
  'piot_root_readonly',
  'Whether the root filesystem is mounted read-only (1) or not (0).',
);

// The kernel escapes space, tab, newline and backslash in mount fields as octal (\040).
const unescape = (field: string) =>
  field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** The mounts in /proc/self/mounts text, the visible (last) one per mount point, sorted by it. */
export function parseMounts(text: string): Mount[] {
  const byPoint = new Map<string, Mount>();
  for (const line of text.split('\n')) {
    const [device, mountpoint, fstype, options] = line.trim().split(/\s+/);
    if (!device || !mountpoint || !fstype || !options) continue;
    const mount = {
      device: unescape(device),
      mountpoint: unescape(mountpoint),
      fstype,
      options: options.split(','),
    };
    byPoint.delete(mount.mountpoint);
    byPoint.set(mount.mountpoint, mount);
  }
  return [...byPoint.values()].sort((a, b) => (a.mountpoint < b.mountpoint ? -1 : 1));
}

/** True for mounts that hold no user data (proc, sysfs, cgroups, container layers, …). */
export const isPseudo = (m: Mount): boolean =>
  PSEUDO_FS.has(m.fstype) || PSEUDO_MOUNT.test(m.mountpoint);

function statfsWithin(ctx: CollectorContext, path: string): Promise<FsStats> {
  // A hung network mount must not hang the whole scrape.
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`statfs ${path} timed out`)), STATFS_TIMEOUT_MS);
  });
  return Promise.race([ctx.statfs(path), timeout]).finally(() => clearTimeout(timer));
}

async function mountSamples(ctx: CollectorContext, m: Mount): Promise<Sample[]> {
  const labels = { device: m.device, fstype: m.fstype, mountpoint: m.mountpoint };
  const samples = [readonly(flag(m.options.includes('ro')), labels)];
  let s: FsStats;
  try {
    s = await statfsWithin(ctx, join(ctx.root, m.mountpoint));
  } catch {
    return [...samples, deviceError(1, labels)];
  }
  return [
    ...samples,
    deviceError(0, labels),
    size(s.blocks * s.bsize, labels),
    free(s.bfree * s.bsize, labels),
    avail(s.bavail * s.bsize, labels),
    files(s.files, labels),
    filesFree(s.ffree, labels),
  ];
}

/** Space and inodes of each real filesystem (via statfs), and whether / is read-only. */
export const filesystem: Collector = {
  name: 'filesystem',
  async collect(ctx) {
    const text =
      readOptional(join(ctx.proc, 'self/mounts')) ?? readOptional(join(ctx.proc, 'mounts'));
    if (text === undefined) return [];
    const mounts = parseMounts(text);
    const real = mounts.filter((m) => !isPseudo(m));
    const samples = (await Promise.all(real.map((m) => mountSamples(ctx, m)))).flat();
    const root = mounts.find((m) => m.mountpoint === '/');
    if (root) samples.push(rootReadonly(flag(root.options.includes('ro'))));
    return samples;
  },
};
