import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ssh } from '../../src/sys/ssh.js';
import { readBootFiles } from '../../src/vm/boot-files.js';
import { BOOT_TIMEOUT_MS, image } from './harness.js';

const root = join(import.meta.dirname, '..', '..');

function fingerprint(path: string): string {
  const fd = openSync(path, 'r');
  const head = Buffer.alloc(8 * 2 ** 20);
  readSync(fd, head, 0, head.length, 0);
  closeSync(fd);
  const { size, mtimeMs } = statSync(path);
  return `${size}:${mtimeMs}:${createHash('sha256').update(head).digest('hex')}`;
}

it('piot vm boots an image with its own cmdline.txt, prints the forwards, and leaves the image untouched', async () => {
  const img = await image('bookworm-amd64-full');
  const before = fingerprint(img);
  const consoleLog = join(mkdtempSync(join(tmpdir(), 'piot-vm-cli-')), 'console.log');
  const child = spawn(
    process.execPath,
    [
      join(root, 'dist/piot.js'),
      'vm',
      img,
      '--accel',
      'tcg',
      '--console',
      consoleLog,
      '--forward',
      'web=8080',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' },
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    const deadline = Date.now() + 30_000;
    while (!/ssh -p \d+/.test(stderr) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect(stderr).toMatch(/overlay, discarded at exit/);
    expect(stderr).toMatch(/web\s+guest :8080 → 127\.0\.0\.1:\d+/);
    expect(stderr).toMatch(/metrics\s+guest :9110 → 127\.0\.0\.1:\d+/);
    const port = Number(/ssh -p (\d+)/.exec(stderr)![1]);
    const target = { port, user: 'pi', key: `${img}.ssh-key` };
    const loginDeadline = Date.now() + BOOT_TIMEOUT_MS;
    while ((await ssh(target, 'true', { timeoutMs: 15_000 })).code !== 0) {
      if (Date.now() > loginDeadline) throw new Error(`no SSH login; stderr:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 2000));
    }
    const cmdline = (await ssh(target, 'cat /proc/cmdline')).stdout.trim();
    // Under TCG the machine adds `norandmaps` (see kernelCmdline) and nothing else.
    expect(cmdline).toBe(`${(await readBootFiles(img)).cmdline} norandmaps`);
    await ssh(target, 'echo scribble | sudo tee /root/scribble && sync');
  } finally {
    child.kill('SIGINT');
  }
  expect(await exited).toBe(0);
  expect(fingerprint(img)).toBe(before);
});
