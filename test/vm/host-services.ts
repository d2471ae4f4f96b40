import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { run } from '../../src/sys/process.js';
import { aptSources, startDebianMirror, type DebianMirror } from '../../src/vm/debian-mirror.js';
import { startGitServer, type GitServer } from '../../src/vm/git-server.js';
import type { GuestForward } from '../../src/vm/qemu-args.js';

/** Where guests find the host services (the VM's guestForwards map them to loopback). */
export const GIT_HOST = '10.0.2.100';
export const APT_HOST = '10.0.2.101';

/** The services a guest without internet needs: a git server with one app repository, a Debian mirror. */
export interface HostServices {
  git: GitServer;
  mirror: DebianMirror;
  /** The app repository as the guest sees it. */
  repoUrl: string;
  /** /etc/apt/sources.list for a guest of this suite, pointing at the mirror. */
  sources(suite: string): string;
  guestForwards: GuestForward[];
  /** Commits files to the app repository; returns the commit. */
  commit(files: Record<string, string>, message?: string): Promise<string>;
  close(): Promise<void>;
}

/** An app repository (app.git, branch main) served over HTTP on loopback, and a clone to commit from. */
export interface HostRepo {
  git: GitServer;
  /** Commits files to the app repository and pushes them; returns the commit. */
  commit(files: Record<string, string>, message?: string): Promise<string>;
  close(): Promise<void>;
}

/** Starts a git server on loopback with an empty repository app.git (branch main). */
export async function startHostRepo(log?: (line: string) => void): Promise<HostRepo> {
  const dir = await mkdtemp(join(tmpdir(), 'piot-host-'));
  const bare = join(dir, 'repos', 'app.git');
  const work = join(dir, 'work');
  const git = async (cwd: string, ...args: string[]) => {
    const result = await run('git', args, {
      cwd,
      env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null' },
    });
    if (result.code !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr}`);
    return result.stdout.trim();
  };
  await mkdir(join(dir, 'repos'));
  await git(dir, 'init', '-q', '--bare', '-b', 'main', bare);
  await git(dir, 'init', '-q', '-b', 'main', work);
  const gitServer = await startGitServer({ root: join(dir, 'repos'), log });
  return {
    git: gitServer,
    async commit(files, message = 'change') {
      for (const [name, text] of Object.entries(files)) {
        await mkdir(dirname(join(work, name)), { recursive: true });
        await writeFile(join(work, name), text);
      }
      await git(work, 'add', '-A');
      await git(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', message);
      await git(work, 'push', '-q', bare, 'main');
      return git(work, 'rev-parse', 'HEAD');
    },
    async close() {
      await gitServer.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Starts the git server (repository app.git, branch main) and the Debian mirror on loopback. */
export async function startHostServices(log?: (line: string) => void): Promise<HostServices> {
  const repo = await startHostRepo(log);
  const mirror = await startDebianMirror({ log });
  return {
    git: repo.git,
    mirror,
    repoUrl: `http://${GIT_HOST}/app.git`,
    sources: (suite) => aptSources(suite, `http://${APT_HOST}`),
    guestForwards: [
      { guestAddress: GIT_HOST, guestPort: 80, hostPort: repo.git.port, connections: 'many' },
      { guestAddress: APT_HOST, guestPort: 80, hostPort: mirror.port, connections: 'many' },
    ],
    commit: (files, message) => repo.commit(files, message),
    async close() {
      await repo.close();
      await mirror.close();
    },
  };
}
