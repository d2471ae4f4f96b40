import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, onTestFailed } from 'vitest';
import { run } from '../../src/sys/process.js';
import {
  makeKeyPair,
  startSshGitServer,
  type KeyPair,
  type SshGitServer,
} from '../support/ssh-git-server.js';
import { upstream } from '../support/upstream.js';
import { deviceReport, deviceState, installAgent } from './device.js';
import { withVm } from './harness.js';

/** Where the guest finds the SSH git server (a guest forward to its loopback port). */
const REPO_HOST = '10.0.2.102';
const APP = {
  '.piot.yaml': 'version: 1\napp: secret\nservices:\n  web:\n    run: node server.js\n',
  'server.js': `require('http').createServer((q, s) => s.end('hello from a private repo')).listen(8080, '127.0.0.1');\n`,
};
const DEVICE_FILE = `version: 1
name: kitchen
repo: ssh://git@${REPO_HOST}:22/app.git
deploy_key: /etc/piot/identity/deploy_key
poll: 1h
`;

let dir: string;
let server: SshGitServer;
let deployKey: KeyPair;
let commit: string;
const serverLog: string[] = [];
const startServer = (port?: number) =>
  startSshGitServer({
    root: join(dir, 'repos'),
    allowedKeys: [deployKey.publicKey],
    ...(port === undefined ? {} : { port }),
    log: (line) => serverLog.push(line),
  });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'piot-private-'));
  const up = upstream();
  commit = up.commit(APP, 'private app');
  const bare = await run('git', ['clone', '-q', '--bare', up.dir, join(dir, 'repos', 'app.git')]);
  if (bare.code !== 0) throw new Error(bare.stderr);
  deployKey = await makeKeyPair(dir, 'deploy_key');
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

it('a Pi deploys from a private repository over SSH with its deploy key, pins the host key, and explains a refused key and a changed host key', async () => {
  await withVm(
    'bookworm-amd64-full',
    async (vm, bootSeconds) => {
      console.log(`SSH after ${bootSeconds.toFixed(0)} s`);
      const seconds = (since: number) => `${((Date.now() - since) / 1000).toFixed(0)} s`;
      onTestFailed(async () => {
        console.log(`ssh server:\n${serverLog.slice(-20).join('\n')}`);
        console.log(await deviceReport(vm));
      });
      await installAgent(vm, DEVICE_FILE);
      // Where first boot puts the key given to piot image configure --deploy-key.
      await vm.sh(
        "sudo install -d -m 0700 /etc/piot/identity && sudo sh -c 'umask 077 && cat >/etc/piot/identity/deploy_key'",
        { input: await readFile(deployKey.file, 'utf8') },
      );
      expect((await vm.ssh('sudo test -e /etc/piot/known_hosts')).code).not.toBe(0);

      let started = Date.now();
      await vm.sh('sudo systemctl enable --now piot-agent.service');
      await vm.waitFor(
        'the app deployed',
        async () => (await deviceState(vm)).current === commit,
        180_000,
      );
      await vm.waitFor(
        'the app answers',
        async () => (await vm.sh('curl -s 127.0.0.1:8080')) === 'hello from a private repo',
        60_000,
      );
      console.log(
        `cloned over SSH, deployed and answering ${seconds(started)} after the agent started`,
      );
      expect(
        await vm.sh('sudo git --git-dir /var/lib/piot/repo.git config remote.origin.url'),
      ).toBe(`ssh://git@${REPO_HOST}:22/app.git\n`);
      // The server's host key was pinned on first use.
      expect(await vm.sh('sudo cat /etc/piot/known_hosts')).toBe(
        `${REPO_HOST} ${server.hostKey}\n`,
      );
      expect(serverLog.filter((l) => l.startsWith('ssh: refused'))).toEqual([]);

      // The deploy key removed from the repository: the error says what to do.
      server.revoke(deployKey.publicKey);
      started = Date.now();
      let fetch = await vm.ssh('sudo piot fetch');
      expect(fetch.code).toBe(1);
      expect(fetch.stderr).toContain(
        `error: the repository server ${REPO_HOST} refused the deploy key /etc/piot/identity/deploy_key\n`,
      );
      expect(fetch.stderr).toMatch(/hint: add the deploy key's public half .* deploy keys/);
      console.log(`piot fetch with a refused key: ${seconds(started)}`);
      server.allow(deployKey.publicKey);
      expect((await vm.ssh('sudo piot fetch')).stdout).toBe(`${commit}\n`);

      // The same address answers with another host key: refused, and the file is unchanged.
      const port = server.port;
      await server.close();
      server = await startServer(port);
      fetch = await vm.ssh('sudo piot fetch');
      expect(fetch.code).toBe(1);
      expect(fetch.stderr).toContain(
        `error: the SSH host key of ${REPO_HOST} has changed: it is not the key pinned in /etc/piot/known_hosts\n`,
      );
      expect(fetch.stderr).toContain(`ssh-keygen -R '${REPO_HOST}' -f /etc/piot/known_hosts`);
      expect(await vm.sh('sudo cat /etc/piot/known_hosts')).not.toContain(server.hostKey);
    },
    {
      guestForwards: [
        { guestAddress: REPO_HOST, guestPort: 22, hostPort: server.port, connections: 'many' },
      ],
    },
  );
});
