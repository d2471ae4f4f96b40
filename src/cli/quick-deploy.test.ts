import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CycleRecord } from '../agent/cycle-record.js';
import type { CliContext } from './context.js';
import { quickDeploy } from './quick-deploy.js';

// A stand-in for the agent: a process that, on SIGUSR1, ends a cycle as `answer` says by
// replacing its cycle record (a write and a rename, as the agent does).
const FAKE_AGENT = `
const fs = require('fs');
const [path, answer] = process.argv.slice(1);
const write = (record) => {
  fs.writeFileSync(path + '.tmp', JSON.stringify({ pid: process.pid, ...record }));
  fs.renameSync(path + '.tmp', path);
};
write({ at: new Date(Date.now() - 60000).toISOString(), outcome: { result: 'up-to-date' } });
process.on('SIGUSR1', () =>
  setTimeout(() => write({ at: new Date().toISOString(), ...JSON.parse(answer) }), 150));
setInterval(() => {}, 1000);
process.stdout.write('ready\\n');
`;

let dir: string | undefined;
let agent: ChildProcess | undefined;
afterEach(async () => {
  agent?.kill();
  agent = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

async function fakeAgent(answer: Omit<CycleRecord, 'pid' | 'at'>): Promise<string> {
  dir = await mkdtemp(join(tmpdir(), 'piot-quick-'));
  const path = join(dir, 'agent.json');
  agent = spawn(process.execPath, ['-e', FAKE_AGENT, path, JSON.stringify(answer)]);
  await new Promise((resolve) => agent!.stdout!.once('data', resolve));
  return path;
}

function context() {
  const ctx = { out: '', err: '' };
  const cli: CliContext = {
    cwd: '/',
    out: (text) => void (ctx.out += text),
    err: (text) => void (ctx.err += text),
    color: false,
    env: {},
  };
  return { ctx, cli };
}

describe('piot deploy --now while the agent runs', () => {
  it('asks the agent and prints the outcome of the cycle it ran', async () => {
    const path = await fakeAgent({
      outcome: { result: 'deployed', commit: 'c'.repeat(40), steps: 2, healthyMs: 1800 },
    });
    const { ctx, cli } = context();
    expect(await quickDeploy(['deploy', '--now'], cli, path)).toBe(0);
    expect(ctx.out).toBe('deployed cccccccccccc (2 steps, healthy in 1.8 s)\n');
  });

  it('exits 1 on a rolled-back deploy, and prints JSON when asked', async () => {
    const outcome = {
      result: 'rolled-back',
      commit: 'c'.repeat(40),
      to: 'b'.repeat(40),
      reason: 'web died',
    };
    const path = await fakeAgent({ outcome: outcome as CycleRecord['outcome'] });
    const { ctx, cli } = context();
    expect(await quickDeploy(['deploy', '--json'], cli, path)).toBe(1);
    expect(JSON.parse(ctx.out)).toEqual(outcome);
  });

  it("says so when the agent's cycle failed", async () => {
    const path = await fakeAgent({ error: 'git fetch failed' });
    const { ctx, cli } = context();
    expect(await quickDeploy(['deploy'], cli, path)).toBe(1);
    expect(ctx.err).toMatch(/^error: the agent's cycle failed: git fetch failed\nhint: /);
  });

  it('leaves other arguments, and a device without a running agent, to the full CLI', async () => {
    const { ctx, cli } = context();
    dir = await mkdtemp(join(tmpdir(), 'piot-quick-'));
    const path = join(dir, 'agent.json');
    expect(await quickDeploy(['deploy', '--now'], cli, path)).toBeUndefined();
    // A record left by an agent that is gone.
    await writeFile(path, JSON.stringify({ pid: 2 ** 22 + 1, at: new Date().toISOString() }));
    expect(await quickDeploy(['deploy', '--now'], cli, path)).toBeUndefined();
    expect(await quickDeploy(['deploy', '--root', '/tmp/x'], cli, path)).toBeUndefined();
    expect(await quickDeploy(['status'], cli, path)).toBeUndefined();
    expect(ctx.out + ctx.err).toBe('');
  });
});
