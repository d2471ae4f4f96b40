import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

// `piot hub --workers N`, run as a user runs it: the CLI in its own process, its workers forked
// by node:cluster.
const BIN = fileURLToPath(new URL('../cli/bin.ts', import.meta.url));

interface Hub {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
}

function startHubCli(args: string[]): Hub {
  const child = spawn(process.execPath, ['--import', 'tsx', BIN, 'hub', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return { child, output: () => output, exited };
}

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The hub processes the primary forked: its children running the CLI. */
function workersOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (ppid === pid && cmdline.includes(BIN)) found.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return found.sort((a, b) => a - b);
}

let running: Hub | undefined;
let dir: string | undefined;
afterEach(async () => {
  if (running && running.child.exitCode === null) {
    for (const pid of workersOf(running.child.pid!)) process.kill(pid, 'SIGKILL');
    running.child.kill('SIGKILL');
    await running.exited;
  }
  running = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('piot hub --workers', () => {
  it('serves one port from several processes, replaces one that dies, and stops them all', async () => {
    dir = await mkdtemp(join(tmpdir(), 'piot-hub-workers-'));
    const hub = (running = startHubCli([
      '--data',
      dir,
      '--listen',
      '127.0.0.1:0',
      '--workers',
      '2',
    ]));
    const url = await until(
      'the hub to listen',
      () => /hub listening on (http:\/\/\S+) \(2 processes\)/.exec(hub.output())?.[1],
    );
    const primary = hub.child.pid!;
    const first = workersOf(primary);
    expect(first).toHaveLength(2);
    for (let i = 0; i < 4; i++) expect((await fetch(`${url}/healthz`)).status).toBe(200);

    process.kill(first[0]!, 'SIGKILL');
    await until('a new hub process', () => {
      const now = workersOf(primary);
      return now.length === 2 && !now.includes(first[0]!) ? now : undefined;
    });
    expect(hub.output()).toMatch(/hub process \d was killed \(SIGKILL\); starting another/);
    await until('the new process to serve', async () =>
      (await fetch(`${url}/healthz`)).status === 200 ? true : undefined,
    );

    const last = workersOf(primary);
    hub.child.kill('SIGTERM');
    expect(await hub.exited).toBe(0);
    for (const pid of last) expect(existsSync(`/proc/${pid}`)).toBe(false);
  }, 60_000);

  it('stops with an error when its processes cannot open the store', async () => {
    dir = await mkdtemp(join(tmpdir(), 'piot-hub-workers-'));
    const notADirectory = join(dir, 'file');
    await writeFile(notADirectory, '');
    const hub = (running = startHubCli([
      '--data',
      notADirectory,
      '--listen',
      '127.0.0.1:0',
      '--workers',
      '2',
    ]));
    expect(await hub.exited).toBe(1);
    expect(hub.output()).toMatch(/cannot open the hub's store/);
    expect(hub.output()).toMatch(/before it served; stopping/);
    expect(hub.output()).toMatch(/the hub's processes could not start/);
  }, 60_000);
});
