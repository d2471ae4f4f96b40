import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GitSshError } from '../src/sys/git-ssh.js';
import { createGit } from '../src/sys/git.js';
import { run } from '../src/sys/process.js';
import {
  makeKeyPair,
  startSshGitServer,
  type KeyPair,
  type SshGitServer,
} from './support/ssh-git-server.js';
import { upstream } from './support/upstream.js';

// A private repository over SSH, for real: ssh and git against an SSH server on loopback.
let dir: string;
let server: SshGitServer;
let deployKey: KeyPair;
let otherKey: KeyPair;
let commit: string;
let mirrors = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'piot-git-ssh-'));
  const up = upstream();
  commit = up.commit({ '.piot.yaml': 'version: 1\napp: a\n' }, 'first');
  await run('git', ['clone', '-q', '--bare', up.dir, join(dir, 'repos', 'app.git')]);
  deployKey = await makeKeyPair(dir, 'deploy');
  otherKey = await makeKeyPair(dir, 'other');
  server = await startSshGitServer({
    root: join(dir, 'repos'),
    allowedKeys: [deployKey.publicKey],
    hostKeyFile: (await makeKeyPair(dir, 'host')).file,
  });
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

const url = () => `ssh://git@127.0.0.1:${server.port}/app.git`;
const hostName = () => `[127.0.0.1]:${server.port}`;
const device = (options: { key?: string; knownHosts?: string } = {}) => {
  const knownHosts = options.knownHosts ?? join(dir, `known_hosts-${++mirrors}`);
  const git = createGit({
    url: url(),
    mirror: join(dir, `mirror-${mirrors}.git`),
    ssh: { key: options.key ?? deployKey.file, knownHosts },
  });
  return { git, knownHosts };
};
const failure = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GitSshError);
  return error as GitSshError;
};

describe('a private repository over SSH with the deploy key', () => {
  it('clones with the allowed key, pins the host key on first use, then fetches with it', async () => {
    const { git, knownHosts } = device();
    await git.fetch();
    expect(await git.branchHead('main')).toBe(commit);
    expect(await readFile(knownHosts, 'utf8')).toBe(`${hostName()} ${server.hostKey}\n`);
    expect(await git.remoteHead('refs/heads/main')).toBe(commit);
    await git.fetch();
  });

  it('says the server refused the deploy key, and how to fix it, for a key it does not know', async () => {
    const error = await failure(device({ key: otherKey.file }).git.fetch());
    expect(error.message).toBe(
      `the repository server 127.0.0.1 refused the deploy key ${otherKey.file}`,
    );
    expect(error.hint).toMatch(
      /add the deploy key's public half .* to the repository's deploy keys/,
    );
  });

  it('refuses a server whose host key changed after it was pinned', async () => {
    const { git, knownHosts } = device();
    await git.fetch();
    const port = server.port;
    await server.close();
    server = await startSshGitServer({
      root: join(dir, 'repos'),
      allowedKeys: [deployKey.publicKey],
      port,
    });
    const error = await failure(git.fetch());
    expect(error.message).toBe(
      `the SSH host key of ${hostName()} has changed: it is not the key pinned in ${knownHosts}`,
    );
    expect(error.hint).toContain(`ssh-keygen -R '${hostName()}' -f ${knownHosts}`);
    const clone = await failure(device({ knownHosts }).git.fetch());
    expect(clone.message).toMatch(/has changed/);
  });

  it('trusts only a host key given at configure time', async () => {
    const configured = join(dir, 'configured');
    await writeFile(configured, `# piot image configure\n${hostName()} ${server.hostKey}\n`);
    const { git } = device({ knownHosts: configured });
    await git.fetch();
    expect(await git.branchHead('main')).toBe(commit);

    const mismatching = join(dir, 'mismatching');
    const wrong = (await readFile(`${otherKey.file}.pub`, 'utf8')).split(' ').slice(0, 2).join(' ');
    await writeFile(mismatching, `${hostName()} ${wrong}\n`);
    expect((await failure(device({ knownHosts: mismatching }).git.fetch())).message).toMatch(
      /host key of .* has changed/,
    );

    // A key for another host: this one is not trusted on first use.
    const elsewhere = join(dir, 'elsewhere');
    await writeFile(elsewhere, `git.example.com ${server.hostKey}\n`);
    const unknown = await failure(device({ knownHosts: elsewhere }).git.fetch());
    expect(unknown.message).toBe(
      `${elsewhere} has no host key for ${hostName()}, and only the hosts in it are trusted`,
    );
    expect(await readFile(elsewhere, 'utf8')).toBe(`git.example.com ${server.hostKey}\n`);
  });

  it('the test server runs nothing but git-upload-pack', async () => {
    const known = join(dir, 'known_hosts-shell');
    const ssh = (command: string) =>
      run('ssh', [
        ...['-i', deployKey.file, '-o', 'IdentitiesOnly=yes', '-o', 'BatchMode=yes'],
        ...['-o', `UserKnownHostsFile=${known}`, '-o', 'StrictHostKeyChecking=accept-new'],
        ...['-p', String(server.port), 'git@127.0.0.1', command],
      ]);
    const shell = await ssh('id');
    expect(shell.code).toBe(1);
    expect(shell.stderr).toContain('only serves git-upload-pack');
    const escape = await ssh("git-upload-pack '../../etc'");
    expect(escape.code).toBe(1);
    const push = await ssh("git-receive-pack '/app.git'");
    expect(push.code).toBe(1);
  });
});
