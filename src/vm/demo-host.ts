import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { run } from '../sys/process.js';
import { startGitServer, type GitServer } from './git-server.js';
import type { GuestForward } from './qemu-args.js';

/** The address the virtual Pi reaches the demo's git server at. */
export const DEMO_GIT_HOST = '10.0.2.100';

/** The demo's side of the world: an app repository served over HTTP on loopback. */
export interface DemoHost {
  dir: string;
  /** A clone to edit, commit and push from. */
  work: string;
  repoUrl: string;
  guestForwards: GuestForward[];
  git: GitServer;
  /** Commits everything in the clone and pushes it; returns the commit. */
  commitAndPush(message: string): Promise<string>;
  close(): Promise<void>;
}

const DEMO_AUTHOR = ['-c', 'user.name=PioT demo', '-c', 'user.email=demo@piot.invalid'];

async function git(cwd: string, ...args: string[]): Promise<string> {
  const result = await run('git', args, {
    cwd,
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
  if (result.code !== 0) throw new UserError(`git ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/**
 * Copies an example app into a new git repository (branch main), serves it on loopback and
 * returns how the virtual Pi reaches it.
 */
export async function startDemoHost(app: string, name: string): Promise<DemoHost> {
  const dir = await mkdtemp(join(tmpdir(), 'piot-demo-'));
  const repos = join(dir, 'repos');
  const bare = join(repos, `${name}.git`);
  const work = join(dir, name);
  await mkdir(repos);
  await git(dir, 'init', '-q', '--bare', '-b', 'main', bare);
  await cp(app, work, { recursive: true });
  await git(work, 'init', '-q', '-b', 'main');
  await git(work, 'add', '-A');
  await git(work, ...DEMO_AUTHOR, 'commit', '-qm', `${name}: first version`);
  await git(work, 'remote', 'add', 'origin', bare);
  await git(work, 'push', '-q', 'origin', 'main');
  const server = await startGitServer({ root: repos });
  return {
    dir,
    work,
    repoUrl: `http://${DEMO_GIT_HOST}/${name}.git`,
    guestForwards: [
      { guestAddress: DEMO_GIT_HOST, guestPort: 80, hostPort: server.port, connections: 'many' },
    ],
    git: server,
    async commitAndPush(message) {
      await git(work, 'add', '-A');
      await git(work, ...DEMO_AUTHOR, 'commit', '-qm', message);
      await git(work, 'push', '-q', 'origin', 'main');
      return git(work, 'rev-parse', 'HEAD');
    },
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
