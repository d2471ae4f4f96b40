import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import ssh2, { type Connection, type ParsedKey } from 'ssh2';
import { run } from '../../src/sys/process.js';

/** An SSH key pair made with ssh-keygen: the private key file and the public key line. */
export interface KeyPair {
  file: string;
  publicKey: string;
}

/** Makes an Ed25519 key pair in dir (OpenSSH format, no passphrase, mode 0600). */
export async function makeKeyPair(dir: string, name: string): Promise<KeyPair> {
  const file = join(dir, name);
  const made = await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', file]);
  if (made.code !== 0) throw new Error(`ssh-keygen: ${made.stderr}`);
  return { file, publicKey: (await readFile(`${file}.pub`, 'utf8')).trim() };
}

/** A git server over SSH on 127.0.0.1, serving the bare repositories under root read-only. */
export interface SshGitServer {
  port: number;
  /** The server's host key as `TYPE BASE64` (prefix the host for a known_hosts line). */
  hostKey: string;
  /** Lets a client key (a public key line) in; the keys given at start are allowed. */
  allow(publicKey: string): void;
  /** Stops letting a client key in. */
  revoke(publicKey: string): void;
  close(): Promise<void>;
}

const parse = (text: string | Buffer): ParsedKey => {
  const key = ssh2.utils.parseKey(text);
  if (key instanceof Error) throw key;
  return Array.isArray(key) ? (key[0] as ParsedKey) : key;
};

/**
 * Starts the server. It lets in only the allowed public keys, runs only
 * `git-upload-pack '<path>'` (fetch and clone; no push, no shell) for a repository under
 * root, and says no to anything else. `hostKeyFile` keeps a host key across restarts
 * (default: a new one); `port` 0 picks a free one.
 */
export async function startSshGitServer(options: {
  root: string;
  allowedKeys: string[];
  hostKeyFile?: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<SshGitServer> {
  const log = options.log ?? (() => undefined);
  const root = resolve(options.root);
  const temp = await mkdtemp(join(tmpdir(), 'piot-sshd-'));
  const hostKeyFile = options.hostKeyFile ?? (await makeKeyPair(temp, 'host')).file;
  const hostKeyText = await readFile(hostKeyFile);
  const hostKey = parse(hostKeyText);
  const allowed = new Map<string, ParsedKey>();
  const allow = (line: string) => allowed.set(line.trim(), parse(line.trim()));
  options.allowedKeys.forEach(allow);
  const isAllowed = (algo: string, data: Buffer) =>
    [...allowed.values()].some((k) => k.type === algo && k.getPublicSSH().equals(data));

  const connections = new Set<Connection>();
  const server = new ssh2.Server({ hostKeys: [hostKeyText] }, (client) => {
    connections.add(client);
    client.on('close', () => connections.delete(client));
    client.on('error', (error) => log(`ssh: client error: ${error.message}`));
    client.on('authentication', (ctx) => {
      if (ctx.method !== 'publickey') return ctx.reject(['publickey']);
      if (!isAllowed(ctx.key.algo, ctx.key.data)) {
        log(`ssh: refused key ${ctx.key.algo} for ${ctx.username}`);
        return ctx.reject(['publickey']);
      }
      if (ctx.signature && ctx.blob) {
        const key = [...allowed.values()].find((k) => k.getPublicSSH().equals(ctx.key.data))!;
        if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true)
          return ctx.reject(['publickey']);
      }
      ctx.accept();
    });
    client.on('ready', () => {
      client.on('session', (acceptSession) => {
        const session = acceptSession();
        const env: NodeJS.ProcessEnv = {};
        // Git asks for protocol v2 this way (ssh -o SendEnv=GIT_PROTOCOL).
        session.on('env', (accept, _reject, info) => {
          if (info.key === 'GIT_PROTOCOL') env.GIT_PROTOCOL = info.val;
          accept?.();
        });
        session.on('exec', (accept, _reject, info) => {
          const channel = accept();
          const wanted = /^git-upload-pack '([^']+)'$/.exec(info.command);
          const repo = wanted ? resolve(root, `.${sep}${wanted[1]!}`) : undefined;
          if (!repo || !repo.startsWith(root + sep)) {
            log(`ssh: refused command ${JSON.stringify(info.command)}`);
            channel.stderr.write('this server only serves git-upload-pack for its repositories\n');
            channel.exit(1);
            channel.end();
            return;
          }
          log(`ssh: ${info.command}`);
          const child = spawn('git', ['upload-pack', '--strict', repo], {
            env: { ...process.env, ...env },
            stdio: ['pipe', 'pipe', 'pipe'],
          });
          channel.pipe(child.stdin);
          child.stdout.pipe(channel, { end: false });
          child.stderr.pipe(channel.stderr, { end: false });
          child.stdin.on('error', () => undefined);
          child.on('close', (code) => {
            channel.exit(code ?? 1);
            channel.end();
          });
        });
      });
    });
  });
  await new Promise<void>((ready, fail) => {
    server.once('error', fail);
    server.listen(options.port ?? 0, '127.0.0.1', () => ready());
  });
  const publicKey = hostKey.getPublicSSH();
  return {
    port: (server.address() as AddressInfo).port,
    hostKey: `${hostKey.type} ${publicKey.toString('base64')}`,
    allow,
    revoke: (line) => allowed.delete(line.trim()),
    async close() {
      for (const c of connections) c.end();
      await new Promise<void>((done) => server.close(() => done()));
      await rm(temp, { recursive: true, force: true });
    },
  };
}
