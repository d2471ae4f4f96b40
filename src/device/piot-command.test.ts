import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cycleText } from '../agent/cycle-record.js';
import { DEVICE_PATHS, devicePayload } from './payload.js';

const script = devicePayload().find((f) => f.path === DEVICE_PATHS.command)!.source;

/**
 * A stand-in for the agent: it describes a cycle in cycle.txt, and on SIGUSR1 first ends
 * the cycle that was already running (begun before it was asked), then the asked one.
 */
function fakeAgent(dir: string, asked: { code: number; said: string } | 'die'): ChildProcess {
  const program = `
    const { writeFileSync, renameSync } = require('node:fs');
    const write = (began, code, said) => {
      writeFileSync('${dir}/cycle.tmp', [process.pid, began, code, said, ''].join('\\n'));
      renameSync('${dir}/cycle.tmp', '${dir}/cycle.txt');
    };
    write(Date.now() - 60000, 0, 'up to date at 0123456789ab');
    process.on('SIGUSR1', () => {
      writeFileSync('${dir}/signalled', '');
      ${
        asked === 'die'
          ? 'setTimeout(() => process.exit(0), 200);'
          : `setTimeout(() => write(Date.now() - 30000, 0, 'the cycle before'), 200);
             setTimeout(() => write(Date.now(), ${asked.code}, ${JSON.stringify(asked.said)}), 700);`
      }
    });
    setInterval(() => {}, 1000);
    process.stdout.write('ready\\n');
  `;
  return spawn(process.execPath, ['-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
}

const agents: ChildProcess[] = [];
afterEach(() => {
  for (const agent of agents.splice(0)) agent.kill();
});

async function piot(args: string[], agent?: { code: number; said: string } | 'die') {
  const dir = mkdtempSync(join(tmpdir(), 'piot-runtime-'));
  if (agent) {
    const child = fakeAgent(dir, agent);
    agents.push(child);
    await new Promise((resolve) => child.stdout!.once('data', resolve));
  }
  const run = spawn('sh', [script, ...args], {
    env: { ...process.env, PIOT_RUNTIME: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  run.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  run.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => run.on('close', resolve));
  return { code, stdout, stderr, signalled: existsSync(join(dir, 'signalled')) };
}

describe("the device's piot command answers `piot deploy` without Node.js", () => {
  it("prints how the cycle begun after it asked ended, with the cycle's exit status", async () => {
    const deployed = await piot(['deploy', '--now'], {
      code: 0,
      said: 'deployed 0123456789ab (2 steps, healthy in 1.0 s)',
    });
    expect(deployed).toEqual({
      code: 0,
      stdout: 'deployed 0123456789ab (2 steps, healthy in 1.0 s)\n',
      stderr: '',
      signalled: true,
    });
    const rolledBack = await piot(['deploy'], {
      code: 1,
      said: 'commit 0123456789ab rolled back to ba9876543210: service web is failed',
    });
    expect(rolledBack.code).toBe(1);
    expect(rolledBack.stdout).toMatch(/^commit 0123456789ab rolled back/);
  });

  it('says on standard error that the cycle failed, or that the agent ended without one', async () => {
    const failed = await piot(['deploy', '--now'], {
      code: 1,
      said: "error: the agent's cycle failed: git fetch failed",
    });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('');
    expect(failed.stderr).toBe(
      "error: the agent's cycle failed: git fetch failed\nhint: journalctl -u piot-agent shows the cycle\n",
    );
    const died = await piot(['deploy', '--now'], 'die');
    expect(died.code).toBe(1);
    expect(died.stderr).toMatch(/^error: the agent did not finish a cycle\n/);
  });

  it('leaves other commands, other options and a device without an agent to Node.js', async () => {
    for (const [args, agent] of [
      [['deploy', '--now', '--json'], { code: 0, said: 'deployed' }],
      [['status'], { code: 0, said: 'deployed' }],
      [['deploy', '--now'], undefined],
    ] as const) {
      const result = await piot([...args], agent);
      expect(result.signalled).toBe(false);
      // Node.js is asked instead: the agent bundle is not installed on this machine.
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(DEVICE_PATHS.agent);
    }
  });
});

describe('cycle.txt', () => {
  it("carries the agent's pid, the cycle's start, the exit status and one line", () => {
    const at = '2026-11-29T09:00:00.000Z';
    expect(
      cycleText({
        pid: 42,
        at,
        outcome: {
          result: 'rolled-back',
          commit: 'c'.repeat(40),
          to: 'b'.repeat(40),
          reason: 'x\ny',
        },
      }),
    ).toBe(`42\n${Date.parse(at)}\n1\ncommit cccccccccccc rolled back to bbbbbbbbbbbb: x\n`);
    expect(cycleText({ pid: 42, at, error: 'fetch failed:\n  the network' })).toBe(
      `42\n${Date.parse(at)}\n1\nerror: the agent's cycle failed: fetch failed: the network\n`,
    );
    expect(
      cycleText({ pid: 42, at, outcome: { result: 'up-to-date', commit: 'a'.repeat(40) } }),
    ).toBe(`42\n${Date.parse(at)}\n0\nup to date at aaaaaaaaaaaa\n`);
  });
});
