import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstream } from '../../test/support/upstream.js';
import { gitHttpHandler } from '../vm/git-server.js';
import { createGit } from './git.js';
import { advertisedRefs, fetchMirrorHttp, lsRemoteHttp, pktLines, readRefs } from './git-http.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

const up = upstream();
const main = up.commit({ 'a.txt': '1' }, 'one');
up.git('branch', 'main-old');
up.git('tag', 'v1');
const root = mkdtempSync(join(tmpdir(), 'piot-git-http-'));
execFileSync('git', ['clone', '-q', '--bare', up.dir, join(root, 'app.git')]);

const seen: { method: string; path: string; agent: string; protocol: string }[] = [];
const git = gitHttpHandler(root);
const servers: Server[] = [];

/** A server on loopback that records each request and hands it to `handler`. */
async function serve(handler: Handler): Promise<string> {
  const server = createServer((req, res) => {
    seen.push({
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0]!,
      agent: req.headers['user-agent'] ?? '',
      protocol: String(req.headers['git-protocol'] ?? ''),
    });
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let v2: string;
beforeAll(async () => {
  v2 = await serve(git);
});
afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('ls-remote over smart HTTP in this process', () => {
  it('asks a protocol v2 server for the one ref (ls-refs), telling it from its prefix twins', async () => {
    seen.length = 0;
    expect(await lsRemoteHttp(`${v2}/app.git`, 'refs/heads/main')).toBe(main);
    expect(await lsRemoteHttp(`${v2}/app.git/`, 'refs/heads/nope')).toBeUndefined();
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /app.git/info/refs',
      'POST /app.git/git-upload-pack',
      'GET /app.git/info/refs',
      'POST /app.git/git-upload-pack',
    ]);
  });

  it('sends a request again on a new connection when the server closed the kept-alive one', async () => {
    const served = new WeakMap<object, number>();
    let drop = false;
    const closing = await serve((req, res) => {
      const count = (served.get(req.socket) ?? 0) + 1;
      served.set(req.socket, count);
      if (drop && count > 1) {
        drop = false;
        req.socket.destroy();
      } else git(req, res);
    });
    const server = {};
    seen.length = 0;
    expect(await lsRemoteHttp(`${closing}/app.git`, 'refs/heads/main', { server })).toBe(main);
    drop = true;
    expect(await lsRemoteHttp(`${closing}/app.git`, 'refs/heads/main', { server })).toBe(main);
    expect(drop).toBe(false);
    expect(seen.map((r) => r.method).join(' ')).toBe('GET POST POST POST');
  });

  it('asks a server known to speak v2 with ls-refs alone, and with both requests after it failed', async () => {
    let refuse = false;
    const moody = await serve((req, res) => {
      if (refuse && req.method === 'POST') {
        refuse = false;
        res.writeHead(500).end();
      } else git(req, res);
    });
    const server = {};
    const ask = () => lsRemoteHttp(`${moody}/app.git`, 'refs/heads/main', { server });
    seen.length = 0;
    expect(await ask()).toBe(main);
    expect(await ask()).toBe(main);
    expect(await ask()).toBe(main);
    refuse = true;
    expect(await ask()).toBe(main);
    expect(seen.map((r) => r.method).join(' ')).toBe('GET POST POST POST POST GET POST');
  });

  it('reads the ref from the advertisement of a server that speaks only v0', async () => {
    const v0 = await serve((req, res) => {
      delete req.headers['git-protocol'];
      git(req, res);
    });
    seen.length = 0;
    expect(await lsRemoteHttp(`${v0}/app.git`, 'refs/heads/main')).toBe(main);
    expect(await lsRemoteHttp(`${v0}/app.git`, 'refs/tags/v1')).toBe(main);
    expect(await lsRemoteHttp(`${v0}/app.git`, 'refs/heads/nope')).toBeUndefined();
    expect(seen.every((r) => r.method === 'GET')).toBe(true);
  });

  it('sends the credentials of the URL as basic auth, and not as part of the URL', async () => {
    const guarded = await serve((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('pi:s3cr@t').toString('base64')}`)
        res.writeHead(401, { 'www-authenticate': 'Basic realm="git"' }).end();
      else git(req, res);
    });
    const withCredentials = guarded.replace('http://', 'http://pi:s3cr%40t@');
    expect(await lsRemoteHttp(`${withCredentials}/app.git`, 'refs/heads/main')).toBe(main);
    await expect(lsRemoteHttp(`${guarded}/app.git`, 'refs/heads/main')).rejects.toThrow(
      /GET http:\/\/127\.0\.0\.1:\d+\/app\.git\/info\/refs\?service=git-upload-pack: HTTP 401/,
    );
  });

  it('refuses what is not a smart git server, naming the URL', async () => {
    const web = await serve((_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<p>hi'),
    );
    await expect(lsRemoteHttp(`${web}/app.git`, 'refs/heads/main')).rejects.toThrow(
      /\/app\.git\/info\/refs\?service=git-upload-pack: HTTP 200 text\/html/,
    );
    await expect(
      lsRemoteHttp('ssh://git@example.invalid/app.git', 'refs/heads/main'),
    ).rejects.toThrow(/not an HTTP remote: ssh:/);
  });

  it('splits pkt-lines and refuses broken ones', () => {
    const line = `${main} refs/heads/main\0side-band-64k\n`;
    const lines = pktLines(
      Buffer.from(`${(line.length + 4).toString(16).padStart(4, '0')}${line}0000`),
    );
    expect(lines).toEqual([
      { text: `${main} refs/heads/main\0side-band-64k\n` },
      { text: undefined },
    ]);
    expect(advertisedRefs(lines)).toEqual(new Map([['refs/heads/main', main]]));
    expect(() => pktLines(Buffer.from('00zzhello'))).toThrow(/not a pkt-line at byte 0/);
    expect(() => pktLines(Buffer.from('0040short'))).toThrow(/runs past the end at byte 0/);
    expect(() => advertisedRefs(pktLines(Buffer.from('000ahello\n')))).toThrow(
      /unexpected ref advertisement/,
    );
  });
});

/** A mirror of server's app.git asks twice for the head; the agent strings that asked. */
async function twoPolls(server: string): Promise<string[]> {
  const mirror = join(mkdtempSync(join(tmpdir(), 'piot-mirror-')), 'app.git');
  const remote = createGit({ url: `${server}/app.git`, mirror });
  await remote.fetch();
  seen.length = 0;
  expect(await remote.remoteHead('refs/heads/main')).toBe(main);
  expect(await remote.remoteHead('refs/heads/main')).toBe(main);
  return seen.filter((r) => r.path.endsWith('/info/refs')).map((r) => r.agent);
}

describe('the mirror asks an HTTP remote for its head', () => {
  it('in this process, without git', async () => {
    const mirror = join(mkdtempSync(join(tmpdir(), 'piot-mirror-')), 'app.git');
    const remote = createGit({ url: `${v2}/app.git`, mirror });
    seen.length = 0;
    expect(await remote.remoteHead('refs/heads/main')).toBe(main);
    expect(seen.map((r) => r.agent)).toEqual(['git/piot', 'git/piot']);
  });

  it('in this process on a device, whose git is set up for SSH remotes too', async () => {
    const mirror = join(mkdtempSync(join(tmpdir(), 'piot-mirror-')), 'app.git');
    const ssh = { key: join(tmpdir(), 'no-deploy-key'), knownHosts: join(tmpdir(), 'no-hosts') };
    const remote = createGit({ url: `${v2}/app.git`, mirror, ssh });
    seen.length = 0;
    expect(await remote.remoteHead('refs/heads/main')).toBe(main);
    expect(seen.map((r) => r.agent)).toEqual(['git/piot', 'git/piot']);
  });

  it('through git from the first time git answered where this process could not', async () => {
    // A host that serves only clients it knows (here: git itself, by its agent string).
    const picky = await serve((req, res) => {
      if (!/^git\/\d/.test(req.headers['user-agent'] ?? '')) res.writeHead(403).end();
      else git(req, res);
    });
    const agents = await twoPolls(picky);
    expect(agents[0]).toBe('git/piot');
    expect(agents.slice(1).every((a) => /^git\/\d/.test(a))).toBe(true);
    expect(agents.filter((a) => a === 'git/piot')).toHaveLength(1);
  });

  it('in this process again after a failure of the network', async () => {
    let cut = true;
    const flaky = await serve((req, res) => {
      if (cut && req.headers['user-agent'] === 'git/piot') {
        cut = false;
        req.socket.destroy();
      } else git(req, res);
    });
    const agents = await twoPolls(flaky);
    expect(agents).toEqual(['git/piot', expect.stringMatching(/^git\/\d/), 'git/piot']);
  });
});

describe('a mirror fetches from an HTTP remote in this process', () => {
  const work = upstream();
  const first = work.commit({ 'a.txt': '1' }, 'one');
  work.git('branch', 'old');
  const bare = join(root, 'fetch.git');
  execFileSync('git', ['clone', '-q', '--bare', work.dir, bare]);
  const push = (...refspecs: string[]) => work.git('push', '-q', '--force', bare, ...refspecs);
  const refsOf = (dir: string) =>
    execFileSync('git', ['--git-dir', dir, 'for-each-ref', '--format=%(objectname) %(refname)'], {
      encoding: 'utf8',
    });
  const fsck = (dir: string) =>
    execFileSync('git', ['--git-dir', dir, 'fsck', '--no-progress'], { encoding: 'utf8' });
  const newMirror = async (url: string) => {
    const mirror = join(mkdtempSync(join(tmpdir(), 'piot-mirror-')), 'app.git');
    const remote = createGit({ url, mirror });
    await remote.fetch();
    return { mirror, remote };
  };

  it('brings new commits and tags, creates and prunes branches, and leaves the mirror whole', async () => {
    const { mirror, remote } = await newMirror(`${v2}/fetch.git`);
    const second = work.commit({ 'b.txt': '2' }, 'two');
    work.git('tag', '-a', '-m', 'release', 'v2');
    work.git('branch', 'same', first);
    push('main', 'v2', 'same', ':old');
    seen.length = 0;
    await remote.fetch();
    expect(seen.map((r) => `${r.agent} ${r.method}`)).toEqual([
      'git/piot GET',
      'git/piot POST',
      'git/piot POST',
    ]);
    expect(refsOf(mirror)).toBe(refsOf(bare));
    expect(refsOf(mirror)).not.toMatch(/refs\/heads\/old/);
    expect(await remote.branchHead('main')).toBe(second);
    expect((await remote.readFile(second, 'b.txt'))?.toString()).toBe('2');
    fsck(mirror);

    // A branch moved to a commit the mirror has: the server sends a pack without objects.
    push(`${first}:refs/heads/main`);
    await remote.fetch();
    expect(await remote.branchHead('main')).toBe(first);
    expect(refsOf(mirror)).toBe(refsOf(bare));
    push(`${second}:refs/heads/main`);

    // Nothing new: the one ls-refs request, nothing fetched, no git.
    await remote.fetch();
    seen.length = 0;
    await remote.fetch();
    expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /fetch.git/git-upload-pack']);
  });

  it('leaves what this process cannot do to git: a server that speaks only v0, a failing fetch', async () => {
    const v0 = await serve((req, res) => {
      delete req.headers['git-protocol'];
      git(req, res);
    });
    let failFetch = 2;
    const failing = await serve((req, res) => {
      // The second POST of a fetch in this process is the fetch command itself.
      if (req.method === 'POST' && req.headers['user-agent'] === 'git/piot' && --failFetch === 0)
        res.writeHead(500).end();
      else git(req, res);
    });
    for (const url of [`${v0}/fetch.git`, `${failing}/fetch.git`]) {
      const { mirror, remote } = await newMirror(url);
      const next = work.commit({ 'c.txt': url }, 'three');
      push('main');
      seen.length = 0;
      await remote.fetch();
      expect(seen.some((r) => /^git\/\d/.test(r.agent))).toBe(true);
      expect(await remote.branchHead('main')).toBe(next);
      expect(refsOf(mirror)).toBe(refsOf(bare));
      fsck(mirror);
    }
  });

  it('refuses a v0 server and a response without a pack, changing nothing', async () => {
    const { mirror } = await newMirror(`${v2}/fetch.git`);
    const before = refsOf(mirror);
    work.commit({ 'd.txt': '4' }, 'four');
    push('main');
    const v0 = await serve((req, res) => {
      delete req.headers['git-protocol'];
      git(req, res);
    });
    const options = { env: process.env, config: [] };
    await expect(fetchMirrorHttp(`${v0}/fetch.git`, mirror, options)).rejects.toThrow(
      /speaks only protocol v0/,
    );
    const noPack = await serve((req, res) => {
      if (req.method === 'POST' && Number(req.headers['content-length']) > 100)
        res.writeHead(200, { 'content-type': 'application/x-git-upload-pack-result' }).end('0000');
      else git(req, res);
    });
    await expect(fetchMirrorHttp(`${noPack}/fetch.git`, mirror, options)).rejects.toThrow(
      /fetch response has no pack/,
    );
    expect(refsOf(mirror)).toBe(before);
  });

  it('takes the pack when index-pack is done before the response is', async () => {
    const { mirror } = await newMirror(`${v2}/fetch.git`);
    work.commit({ 'd.txt': '5' }, 'five');
    push('main');
    // The closing flush packet of each answer comes late: index-pack has exited by then.
    const late = await serve((req, res) => {
      if (req.method === 'POST') {
        const chunks: Buffer[] = [];
        const write = res.write.bind(res);
        const end = res.end.bind(res);
        res.write = (chunk: Buffer | string) => chunks.push(Buffer.from(chunk)) > 0;
        res.end = ((chunk?: Buffer | string) => {
          if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) chunks.push(Buffer.from(chunk));
          const all = Buffer.concat(chunks);
          write(all.subarray(0, -4));
          setTimeout(() => end(all.subarray(-4)), 300);
          return res;
        }) as typeof res.end;
      }
      git(req, res);
    });
    const fetched = await fetchMirrorHttp(`${late}/fetch.git`, mirror, {
      env: process.env,
      config: [],
    });
    expect(fetched.changed).toBe(1);
    expect(refsOf(mirror)).toBe(refsOf(bare));
    fsck(mirror);
  });

  it('packs what its fetches brought when git would (maintain)', async () => {
    const { mirror, remote } = await newMirror(`${v2}/fetch.git`);
    execFileSync('git', ['--git-dir', mirror, 'config', 'gc.autoPackLimit', '2']);
    const packs = () =>
      readdirSync(join(mirror, 'objects', 'pack')).filter((f) => f.endsWith('.pack'));
    for (let i = 0; i < 3; i++) {
      work.commit({ 'e.txt': String(i) }, `five ${i}`);
      push('main');
      await remote.fetch();
    }
    expect(packs().length).toBeGreaterThan(2);
    await remote.maintain();
    expect(packs()).toHaveLength(1);
    expect(refsOf(mirror)).toBe(refsOf(bare));
  });

  it('reads packed and loose refs, and gives up on a symbolic or torn one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'piot-refs-'));
    execFileSync('git', ['init', '-q', '--bare', dir]);
    const a = 'a'.repeat(40);
    const b = 'b'.repeat(40);
    writeFileSync(
      join(dir, 'packed-refs'),
      `# pack-refs with: peeled fully-peeled sorted\n${a} refs/heads/main\n${a} refs/tags/v1\n^${b}\n`,
    );
    execFileSync('mkdir', ['-p', join(dir, 'refs/heads/topic')]);
    writeFileSync(join(dir, 'refs/heads/main'), `${b}\n`);
    writeFileSync(join(dir, 'refs/heads/topic/x'), `${a}\n`);
    writeFileSync(join(dir, 'refs/heads/topic/y.lock'), '');
    expect(await readRefs(dir)).toEqual(
      new Map([
        ['refs/heads/main', b],
        ['refs/tags/v1', a],
        ['refs/heads/topic/x', a],
      ]),
    );
    writeFileSync(join(dir, 'refs/heads/topic/x'), '');
    expect(await readRefs(dir)).toBeUndefined();
    writeFileSync(join(dir, 'refs/heads/topic/x'), 'ref: refs/heads/main\n');
    expect(await readRefs(dir)).toBeUndefined();
  });
});
