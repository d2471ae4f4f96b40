import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs fn while holding a lock file that names this process. A lock left by a process
 * that no longer runs (or by a boot that ended in a power cut: /run is tmpfs) is taken
 * over. Waits up to waitMs for a live holder, then fails naming it.
 */
export async function withLock<T>(
  path: string,
  fn: () => Promise<T>,
  options: { waitMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.waitMs ?? 600_000);
  await mkdir(dirname(path), { recursive: true });
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
      // An empty file is a holder between creating and writing it, unless it is old.
      const age = Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? 0);
      if ((holder && !alive(holder)) || (!holder && age > 5000)) {
        await rm(path, { force: true });
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`${path} is held by process ${holder} (another deploy is running)`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
  }
}
