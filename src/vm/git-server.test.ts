import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../sys/process.js';
import { startGitServer, type GitServer } from './git-server.js';

const dir = mkdtempSync(join(tmpdir(), 'piot-git-server-'));
const env = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_TERMINAL_PROMPT: '0',
};

// Asynchronous: the server answers from this same process.
async function git(cwd: string, ...args: string[]): Promise<{ code: number | null; out: string }> {
  const result = await run('git', args, { cwd, env, timeoutMs: 30_000 });
  return { code: result.code, out: result.stdout + result.stderr };
}

async function commit(file: string, text: string): Promise<string> {
  writeFileSync(join(dir, 'work', file), text);
  await git(join(dir, 'work'), 'add', '-A');
  await git(join(dir, 'work'), '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', file);
  await git(join(dir, 'work'), 'push', '-q', join(dir, 'repos', 'app.git'), 'main');
  return (await git(join(dir, 'work'), 'rev-parse', 'HEAD')).out.trim();
}

let server: GitServer;
const requests: string[] = [];

beforeAll(async () => {
  await git(dir, 'init', '-q', '--bare', '-b', 'main', join(dir, 'repos', 'app.git'));
  await git(dir, 'init', '-q', '-b', 'main', join(dir, 'work'));
  await commit('.piot.yaml', 'version: 1\napp: demo\n');
  server = await startGitServer({ root: join(dir, 'repos'), log: (l) => requests.push(l) });
});

afterAll(() => server.close());

describe('the git server', () => {
  it('serves clone and fetch over smart HTTP (protocol v2 and v0)', async () => {
    const clone = await git(dir, 'clone', '-q', `${server.url}/app.git`, 'clone');
    expect(clone.code, clone.out).toBe(0);
    expect(readFileSync(join(dir, 'clone', '.piot.yaml'), 'utf8')).toBe('version: 1\napp: demo\n');
    expect(requests).toContainEqual(expect.stringMatching(/^POST \/app\.git\/git-upload-pack$/));

    const head = await commit('server.js', 'x'.repeat(200_000));
    for (const version of ['2', '0']) {
      const fetch = await git(
        join(dir, 'clone'),
        '-c',
        `protocol.version=${version}`,
        'fetch',
        '-q',
      );
      expect(fetch.code, fetch.out).toBe(0);
      expect((await git(join(dir, 'clone'), 'rev-parse', 'origin/main')).out.trim()).toBe(head);
    }
    const mirror = await git(dir, 'clone', '-q', '--mirror', `${server.url}/app.git`, 'mirror.git');
    expect(mirror.code, mirror.out).toBe(0);
  });

  it('refuses pushes, and answers 404 for a repository that does not exist', async () => {
    const push = await git(
      join(dir, 'clone'),
      'push',
      `${server.url}/app.git`,
      'HEAD:refs/heads/evil',
    );
    expect(push.code).not.toBe(0);
    expect(push.out).toMatch(/403/);
    expect((await git(dir, 'ls-remote', `${server.url}/repos/app.git`)).code).not.toBe(0);
    expect(
      (await fetch(`${server.url}/nothing.git/info/refs?service=git-upload-pack`)).status,
    ).toBe(404);
    expect((await fetch(`${server.url}/../../etc/passwd`)).status).not.toBe(200);
  });
});
