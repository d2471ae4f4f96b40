import { describe, expect, it } from 'vitest';
import { runPipe } from './process.js';

describe('runPipe', () => {
  it("gives the first command's output to the second, however large", async () => {
    const [from, to] = await runPipe(
      { command: 'head', args: ['-c', '5000000', '/dev/zero'] },
      { command: 'wc', args: ['-c'] },
    );
    expect(from.code).toBe(0);
    expect(from.stdoutBytes.length).toBe(0);
    expect(to.code).toBe(0);
    expect(to.stdout.trim()).toBe('5000000');
  });

  it('reports how each command ended, with what it said', async () => {
    const [from, to] = await runPipe(
      { command: 'sh', args: ['-c', 'echo one; echo broken >&2; exit 3'] },
      { command: 'sh', args: ['-c', 'cat; echo two; exit 4'] },
    );
    expect([from.code, from.stderr]).toEqual([3, 'broken\n']);
    expect([to.code, to.stdout]).toEqual([4, 'one\ntwo\n']);
  });

  it('stops both at the time limit, and rejects when a command does not exist', async () => {
    const [from, to] = await runPipe(
      { command: 'sleep', args: ['30'] },
      { command: 'cat', args: [] },
      { timeoutMs: 200 },
    );
    expect(from.signal).toBe('SIGKILL');
    expect(to.code === 0 || to.signal === 'SIGKILL').toBe(true);
    await expect(
      runPipe({ command: 'echo', args: ['x'] }, { command: 'piot-no-such-command', args: [] }),
    ).rejects.toThrow(/ENOENT/);
  });
});
