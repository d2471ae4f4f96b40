import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { exists, syncDir } from './fs.js';
import { fetchMirrorHttp, lsRemoteHttp } from './git-http.js';
import { explainSshFailure, sshEnv, type GitSsh } from './git-ssh.js';
import { run, runPipe, type RunResult } from './process.js';

/** A failed git command, with what git said. */
export class GitError extends Error {
  constructor(
    readonly args: string[],
    readonly stderr: string,
    readonly code: number | null,
  ) {
    super(
      `git ${args.join(' ')} failed (exit ${code}): ${stderr.trim().split('\n').slice(-3).join(' ')}`,
    );
    this.name = 'GitError';
  }
}

/** Objects and refs reach the disk before git says it is done (a Pi loses power). */
const DURABLE = ['-c', 'core.fsync=all', '-c', 'core.fsyncMethod=fsync'];
const FETCH = [...DURABLE, 'fetch', '--quiet', '--prune', '--prune-tags', 'origin'];
/** With one of these set, git (through curl) goes through a proxy this process would not. */
const PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'all_proxy'];
/** Errors of the network rather than of the remote. */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
]);

/** When this boot began, from /proc/uptime (0 where there is none). */
async function bootTimeMs(): Promise<number> {
  const uptime = await readFile('/proc/uptime', 'utf8').catch(() => '');
  const seconds = Number(uptime.split(' ')[0]);
  return Number.isFinite(seconds) && seconds > 0 ? Date.now() - seconds * 1000 : 0;
}

/**
 * Removes git's `*.lock` files that a power cut left in the mirror: any older than this
 * boot (no git process of this boot made them), or older than an hour. Git refuses to
 * update a ref while its lock file exists, so one stale lock would stop every fetch.
 */
export async function removeStaleLocks(mirror: string, bootMs?: number): Promise<string[]> {
  const staleBefore = Math.max(bootMs ?? (await bootTimeMs()), Date.now() - 3_600_000);
  const removed: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && depth < 8 && entry.name !== 'objects') await walk(path, depth + 1);
      else if (entry.isFile() && entry.name.endsWith('.lock')) {
        const info = await stat(path).catch(() => undefined);
        if (info && info.mtimeMs < staleBefore) {
          await rm(path, { force: true });
          removed.push(path);
        }
      }
    }
  };
  await walk(mirror, 0);
  return removed;
}

/**
 * The answers of `git cat-file --batch` to `count` names: a blob's bytes, or undefined for
 * a name that is missing or not a file (a directory, a submodule).
 */
export function parseBatch(out: Buffer, count: number): (Buffer | undefined)[] {
  const files: (Buffer | undefined)[] = [];
  let at = 0;
  while (files.length < count) {
    const end = out.indexOf(10, at);
    if (end < 0) throw new Error('git cat-file --batch answered too little');
    const header = out.toString('utf8', at, end);
    at = end + 1;
    const object = /^[0-9a-f]{40,64} (\w+) (\d+)$/.exec(header);
    if (!object) {
      files.push(undefined); // "<name> missing", "<name> ambiguous"
      continue;
    }
    const size = Number(object[2]);
    files.push(object[1] === 'blob' ? out.subarray(at, at + size) : undefined);
    at += size + 1;
  }
  return files;
}

/** Git as the agent uses it: a bare mirror of the app repository, read by commit. */
export interface Git {
  /** Clones the mirror if missing, then fetches every branch and tag (pruned). */
  fetch(): Promise<void>;
  /** The commit a ref points at in the remote (`git ls-remote`), or undefined. */
  remoteHead(ref: string): Promise<string | undefined>;
  /**
   * The commit a branch points at in the mirror, or undefined. Remembered until the next
   * fetch: only a fetch moves the mirror's branches.
   */
  branchHead(branch: string): Promise<string | undefined>;
  /** The newest tag matching a glob (version order) and its commit, or undefined. */
  newestTag(pattern: string): Promise<{ tag: string; commit: string } | undefined>;
  /** A file's bytes at a commit, or undefined if it does not exist there. */
  readFile(commit: string, path: string): Promise<Buffer | undefined>;
  /** Files' bytes at a commit (undefined for one that does not exist there), in one go. */
  readFiles(commit: string, paths: string[]): Promise<(Buffer | undefined)[]>;
  /** True if anything but `.piot.yaml` and `.piot/` (fleet, secrets) differs between two commits. */
  codeChanged(from: string, to: string): Promise<boolean>;
  /** Writes a commit's tree into dir (atomically: a temp dir renamed into place). */
  exportTree(commit: string, dir: string): Promise<void>;
  /**
   * The housekeeping git does after its own fetches (packing what fetches brought, once
   * there is enough of it), for fetches made in this process since the last call.
   */
  maintain(): Promise<void>;
}

/**
 * Real git on a mirror at `mirror`, cloned from `url`. With `ssh`, every clone, fetch and
 * ls-remote uses its key and known_hosts, and SSH failures become GitSshErrors with a hint.
 */
export function createGit(options: {
  url: string;
  mirror: string;
  env?: NodeJS.ProcessEnv;
  ssh?: GitSsh;
}): Git {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...options.env,
    GIT_TERMINAL_PROMPT: '0',
    LC_ALL: 'C',
  };
  // Worked out for each connection: known_hosts gets its first key from the first one.
  const remoteEnv = async () => (options.ssh ? { ...env, ...(await sshEnv(options.ssh)) } : env);
  const failure = (args: string[], result: RunResult) =>
    (options.ssh && explainSshFailure(result.stderr, { ...options.ssh, url: options.url })) ||
    new GitError(args, result.stderr, result.code);
  const git = async (args: string[], opts: { allowFail?: boolean; remote?: boolean } = {}) => {
    const result = await run('git', ['--git-dir', options.mirror, ...args], {
      env: opts.remote ? await remoteEnv() : env,
      timeoutMs: 300_000,
    });
    if (result.code !== 0 && !opts.allowFail) throw failure(args, result);
    return result;
  };
  // An idle poll then spawns only ls-remote (none for an HTTP remote): each spawn is dear on a Pi.
  const heads = new Map<string, string | undefined>();
  // A plain HTTP(S) remote is asked in this process (a device's SSH settings do not apply to
  // it). Git answers for the rest, and from the first time it answers where this process
  // could not (a proxy, a CA only git trusts…) on.
  let askInProcess =
    /^https?:\/\//i.test(options.url) &&
    !PROXY_VARIABLES.some((name) => env[name] || env[name.toUpperCase()]);
  const server = {};
  // git's own fetch ends with `git maintenance run --auto` (repack when packs pile up);
  // one in this process leaves that to maintain(), when no one waits for a deploy.
  let fetchedInProcess = false;
  /** Fetches; the remote's refs when this process fetched them, which the mirror's are now. */
  const fetchMirror = async (): Promise<Map<string, string> | undefined> => {
    // A mirror is cloned into place whole (renamed from .partial); one that is damaged
    // fails its fetch below, and is cloned again then.
    if (await exists(join(options.mirror, 'HEAD'))) {
      await removeStaleLocks(options.mirror);
      let failedInProcess = false;
      if (askInProcess) {
        try {
          const fetched = await fetchMirrorHttp(options.url, options.mirror, {
            timeoutMs: 60_000,
            server,
            env,
            config: DURABLE,
          });
          if (fetched.changed > 0) fetchedInProcess = true;
          return fetched.refs;
        } catch (error) {
          // As for ls-remote: git fetches, and says what is wrong if anything is.
          failedInProcess = !NETWORK_ERRORS.has((error as NodeJS.ErrnoException).code ?? '');
        }
      }
      const fetched = await git(FETCH, { allowFail: true, remote: true });
      if (fetched.code === 0) {
        if (failedInProcess) askInProcess = false;
        return undefined;
      }
      const refused = failure(FETCH, fetched);
      if (!(refused instanceof GitError)) throw refused;
      // A mirror damaged by a power cut is only a cache: clone it again. Anything else
      // (the network, the server) is reported as it is.
      const fsck = await git(['fsck', '--connectivity-only', '--no-progress'], {
        allowFail: true,
      });
      if (fsck.code === 0) throw refused;
      await rm(options.mirror, { recursive: true, force: true });
    }
    await rm(`${options.mirror}.partial`, { recursive: true, force: true });
    await mkdir(dirname(options.mirror), { recursive: true });
    const clone = await run(
      'git',
      [...DURABLE, 'clone', '--mirror', '--quiet', options.url, `${options.mirror}.partial`],
      { env: await remoteEnv(), timeoutMs: 600_000 },
    );
    if (clone.code !== 0) throw failure(['clone', '--mirror', options.url], clone);
    await rename(`${options.mirror}.partial`, options.mirror);
  };
  return {
    async fetch() {
      heads.clear();
      try {
        const refs = await fetchMirror();
        // What this process fetched says where every branch is now: no rev-parse after it.
        for (const [ref, id] of refs ?? []) {
          if (ref.startsWith('refs/heads/')) heads.set(ref.slice('refs/heads/'.length), id);
        }
      } catch (error) {
        heads.clear();
        throw error;
      }
    },
    async maintain() {
      if (!fetchedInProcess) return;
      fetchedInProcess = false;
      // In the foreground: it holds the agent's lock, as a fetch does.
      await git(['-c', 'gc.autoDetach=false', 'maintenance', 'run', '--auto', '--quiet'], {
        allowFail: true,
      });
    },
    async remoteHead(ref) {
      let failedInProcess = false;
      if (askInProcess) {
        try {
          return await lsRemoteHttp(options.url, ref, { timeoutMs: 20_000, server });
        } catch (error) {
          // git asks again, and says what is wrong if anything is. Where the network
          // failed, it fails git too: this process asks again at the next poll.
          failedInProcess = !NETWORK_ERRORS.has((error as NodeJS.ErrnoException).code ?? '');
        }
      }
      const result = await git(['ls-remote', 'origin', ref], { remote: true });
      if (failedInProcess) askInProcess = false;
      return /^([0-9a-f]{40,64})\t/m.exec(result.stdout)?.[1];
    },
    async branchHead(branch) {
      if (heads.has(branch)) return heads.get(branch);
      const result = await git(
        ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`],
        { allowFail: true },
      );
      const head = result.code === 0 ? result.stdout.trim() : undefined;
      heads.set(branch, head);
      return head;
    },
    async newestTag(pattern) {
      const result = await git(['tag', '--list', pattern, '--sort=-v:refname']);
      const tag = result.stdout.split('\n')[0]?.trim();
      if (!tag) return undefined;
      const commit = (
        await git(['rev-parse', '--verify', `refs/tags/${tag}^{commit}`])
      ).stdout.trim();
      return { tag, commit };
    },
    async readFile(commit, path) {
      return (await this.readFiles(commit, [path]))[0];
    },
    async readFiles(commit, paths) {
      // One process for all of them: `git cat-file --batch` answers a line per name.
      const result = await run('git', ['--git-dir', options.mirror, 'cat-file', '--batch'], {
        env,
        timeoutMs: 300_000,
        binary: true,
        input: paths.map((path) => `${commit}:${path}\n`).join(''),
      });
      if (result.code !== 0)
        throw new GitError(['cat-file', '--batch'], result.stderr, result.code);
      return parseBatch(result.stdoutBytes, paths.length);
    },
    async codeChanged(from, to) {
      const result = await git(
        ['diff', '--quiet', from, to, '--', '.', ':(exclude).piot.yaml', ':(exclude).piot'],
        {
          allowFail: true,
        },
      );
      if (result.code !== 0 && result.code !== 1)
        throw new GitError(['diff', from, to], result.stderr, result.code);
      return result.code === 1;
    },
    async exportTree(commit, dir) {
      const temp = `${dir}.partial`;
      await rm(temp, { recursive: true, force: true });
      await mkdir(temp, { recursive: true });
      const [archive, untar] = await runPipe(
        { command: 'git', args: ['--git-dir', options.mirror, 'archive', '--format=tar', commit] },
        { command: 'tar', args: ['-x', '-C', temp] },
        { env, timeoutMs: 300_000 },
      );
      if (archive.code !== 0) throw new GitError(['archive', commit], archive.stderr, archive.code);
      if (untar.code !== 0) throw new Error(`tar failed: ${untar.stderr}`);
      // The files reach the disk before the directory gets its name: after a power cut a
      // release directory is complete or absent, never a set of empty files.
      const synced = await run('sync', ['--file-system', temp]);
      if (synced.code !== 0) throw new Error(`sync of ${temp} failed: ${synced.stderr}`);
      await rename(temp, dir);
      await syncDir(dirname(dir));
    },
  };
}
