import { spawn } from 'node:child_process';
import { mkdir, open as openFile, readdir, readFile, rename, rm } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { Transform, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { exists, syncDir } from './fs.js';

/** A smart HTTP remote: its URL without credentials, and the headers every request carries. */
interface HttpRemote {
  base: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

function httpRemote(url: string, timeoutMs = 30_000): HttpRemote {
  const target = new URL(url);
  if (target.protocol !== 'http:' && target.protocol !== 'https:')
    throw new Error(`not an HTTP remote: ${target.protocol}`);
  const headers: Record<string, string> = {
    // Some hosts serve the smart protocol only to agents that call themselves git.
    'user-agent': 'git/piot',
    'git-protocol': 'version=2',
  };
  if (target.username || target.password) {
    const user = `${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`;
    headers.authorization = `Basic ${Buffer.from(user).toString('base64')}`;
    target.username = '';
    target.password = '';
  }
  return { base: `${target.origin}${target.pathname.replace(/\/+$/, '')}`, headers, timeoutMs };
}

/** Kept between calls by the caller: what this server was found to speak. */
export interface ServerMemo {
  v2?: boolean;
}

/**
 * The remote's refs starting with `prefix`. Protocol v2 asks for those alone (`ls-refs` with
 * a `ref-prefix`); a server that only speaks v0 answers the first request with all its
 * refs. A server that spoke v2 (as `server` remembers) is asked with the one request from
 * then on: ls-refs needs nothing from the advertisement. Should that fail, the two requests
 * again.
 */
async function listRefs(
  remote: HttpRemote,
  prefix: string,
  server: ServerMemo,
): Promise<Map<string, string>> {
  if (server.v2) {
    try {
      return await lsRefs(remote, prefix);
    } catch (error) {
      server.v2 = false;
      // The network failing is the caller's to judge; anything else: the whole dialogue again.
      if (typeof (error as NodeJS.ErrnoException).code === 'string') throw error;
    }
  }
  const advertised = await exchange(
    `${remote.base}/info/refs?service=git-upload-pack`,
    { method: 'GET', headers: remote.headers },
    'application/x-git-upload-pack-advertisement',
    remote.timeoutMs,
  );
  const lines = pktLines(advertised);
  if (lines[0]?.text === '# service=git-upload-pack\n') lines.splice(0, 2);
  if (lines[0]?.text !== 'version 2\n') {
    server.v2 = false;
    return new Map([...advertisedRefs(lines)].filter(([ref]) => ref.startsWith(prefix)));
  }
  const refs = await lsRefs(remote, prefix);
  server.v2 = true;
  return refs;
}

/**
 * `git ls-remote` for one ref over git's smart HTTP, in this process: on a Pi, spawning
 * git (and its HTTP helper) for an idle poll costs far more than the request itself.
 * Throws on anything unexpected, so that the caller can ask git instead.
 */
export async function lsRemoteHttp(
  url: string,
  ref: string,
  options: { timeoutMs?: number; server?: ServerMemo } = {},
): Promise<string | undefined> {
  const refs = await listRefs(httpRemote(url, options.timeoutMs), ref, options.server ?? {});
  return refs.get(ref);
}

/** A request to the remote's git-upload-pack (protocol v2); its answer, once it is a 200 of the right type. */
function uploadPack(remote: HttpRemote, body: Buffer): Promise<IncomingMessage> {
  const headers = {
    ...remote.headers,
    'content-type': 'application/x-git-upload-pack-request',
    accept: 'application/x-git-upload-pack-result',
    'content-length': String(body.length),
  };
  return open(
    `${remote.base}/git-upload-pack`,
    { method: 'POST', headers, body },
    'application/x-git-upload-pack-result',
    remote.timeoutMs,
  );
}

/** Protocol v2 `ls-refs` for the refs starting with prefix. */
async function lsRefs(remote: HttpRemote, prefix: string): Promise<Map<string, string>> {
  const body = Buffer.concat([
    pkt('command=ls-refs\n'),
    Buffer.from('0001'),
    pkt(`ref-prefix ${prefix}\n`),
    Buffer.from('0000'),
  ]);
  const listed = await readAnswer(await uploadPack(remote, body), `${remote.base}/git-upload-pack`);
  const refs = new Map<string, string>();
  for (const line of pktLines(listed)) {
    if (line.text === undefined) break;
    const match = /^([0-9a-f]{40,64}) (\S+)/.exec(line.text);
    if (!match) throw new Error(`unexpected ls-refs line: ${JSON.stringify(line.text)}`);
    // ls-refs matches prefixes of names; `refs/heads/main` asks for `refs/heads/main-old` too.
    if (match[2]!.startsWith(prefix)) refs.set(match[2]!, match[1]!);
  }
  return refs;
}

/** The refs of a v0 advertisement (its first line carries the capabilities after a NUL). */
export function advertisedRefs(lines: PktLine[]): Map<string, string> {
  const refs = new Map<string, string>();
  for (const line of lines) {
    if (line.text === undefined) break;
    const match = /^([0-9a-f]{40,64}) ([^\0\n]+)/.exec(line.text);
    if (!match) throw new Error(`unexpected ref advertisement: ${JSON.stringify(line.text)}`);
    // An empty repository advertises only its capabilities, on a zero id.
    if (match[2] !== 'capabilities^{}') refs.set(match[2]!, match[1]!);
  }
  return refs;
}

/** One pkt-line: its text, or undefined for a flush (0000), delimiter or end packet. */
export interface PktLine {
  text: string | undefined;
}

/** Splits a buffer of pkt-lines; throws where it is not one. */
export function pktLines(data: Buffer): PktLine[] {
  const lines: PktLine[] = [];
  let at = 0;
  while (at < data.length) {
    const head = data.toString('latin1', at, at + 4);
    if (!/^[0-9a-f]{4}$/.test(head)) throw new Error(`not a pkt-line at byte ${at}`);
    const length = parseInt(head, 16);
    if (length < 4) {
      lines.push({ text: undefined });
      at += 4;
      continue;
    }
    if (at + length > data.length) throw new Error(`a pkt-line runs past the end at byte ${at}`);
    lines.push({ text: data.toString('utf8', at + 4, at + length) });
    at += length;
  }
  return lines;
}

function pkt(text: string): Buffer {
  const bytes = Buffer.from(text);
  return Buffer.concat([Buffer.from((bytes.length + 4).toString(16).padStart(4, '0')), bytes]);
}

const MAX_ANSWER = 4 * 1024 * 1024;

/** One request; the answer, once it is known to be a 200 of the expected type. */
function open(
  url: string,
  request: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: Buffer },
  type: string,
  timeoutMs: number,
  retried = false,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = send(
      url,
      { method: request.method, headers: request.headers, timeout: timeoutMs },
      (res: IncomingMessage) => {
        const contentType = res.headers['content-type'] ?? '';
        if (res.statusCode !== 200 || !contentType.startsWith(type)) {
          res.resume();
          reject(new Error(`${request.method} ${url}: HTTP ${res.statusCode} ${contentType}`));
          return;
        }
        resolve(res);
      },
    );
    // The timeout is for silence, while waiting for the answer and while reading it.
    req.on('timeout', () =>
      req.destroy(
        Object.assign(new Error(`${url}: no answer in ${timeoutMs} ms`), { code: 'ETIMEDOUT' }),
      ),
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      // A kept-alive connection the server closed just as this request went out: every
      // request here only reads, so it is sent again, once, on a new connection.
      if (!retried && req.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE'))
        open(url, request, type, timeoutMs, true).then(resolve, reject);
      else reject(error);
    });
    req.end(request.body);
  });
}

/** One request; the answer's body when it is a 200 of the expected type. */
async function exchange(
  url: string,
  request: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: Buffer },
  type: string,
  timeoutMs: number,
): Promise<Buffer> {
  return readAnswer(await open(url, request, type, timeoutMs), url);
}

/** An answer's body, up to MAX_ANSWER bytes. */
function readAnswer(res: IncomingMessage, url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_ANSWER) res.destroy(new Error(`${url}: answer over ${MAX_ANSWER} bytes`));
      else chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}

/** What a mirror's fetch did. */
export interface MirrorFetch {
  /** The remote's refs, which the mirror's are now. */
  refs: Map<string, string>;
  /** Refs created, moved or deleted. */
  changed: number;
}

/**
 * `git fetch --prune` of a mirror (`+refs/*:refs/*`) from a protocol v2 server, with git
 * spawned only to write the pack received (`index-pack`), and to delete refs (`update-ref`,
 * which rewrites packed-refs); new and moved refs are written here as git writes them.
 * Nothing new: no process at all. `git fetch` over HTTP spawns five (git twice, its HTTP
 * helper, unpack-objects and a connectivity walk), each dear on a Pi; the server's pack is
 * trusted to be whole, as index-pack checks it can resolve every object in it. Throws on
 * anything unexpected (refs this cannot read, a server that speaks only v0 too), so that
 * the caller can ask git instead.
 */
export async function fetchMirrorHttp(
  url: string,
  gitDir: string,
  options: {
    timeoutMs?: number;
    server?: ServerMemo;
    /** git's environment, and the -c settings every write gets (durability). */
    env: NodeJS.ProcessEnv;
    config: string[];
  },
): Promise<MirrorFetch> {
  const local = await readRefs(gitDir);
  if (!local) throw new Error(`${gitDir}: refs this process does not read`);
  const server = options.server ?? {};
  const remote = httpRemote(url, options.timeoutMs);
  const refs = await listRefs(remote, 'refs/', server);
  if (!server.v2) throw new Error(`${url}: the server speaks only protocol v0`);
  const updates: string[] = [];
  for (const [ref, id] of refs) {
    const had = local.get(ref);
    if (had !== id) updates.push(had ? `update ${ref} ${id} ${had}` : `create ${ref} ${id}`);
  }
  for (const [ref, id] of local) if (!refs.has(ref)) updates.push(`delete ${ref} ${id}`);
  if (updates.length === 0) return { refs, changed: 0 };

  const wants = [
    ...new Set([...refs].filter(([ref, id]) => local.get(ref) !== id).map(([, id]) => id)),
  ];
  if (wants.length > 0) {
    const haves = [...new Set(local.values())].slice(0, MAX_HAVES);
    const sha256 = [...refs.values()][0]!.length === 64;
    const body = Buffer.concat([
      pkt('command=fetch\n'),
      ...(sha256 ? [pkt('object-format=sha256\n')] : []),
      Buffer.from('0001'),
      ...['thin-pack', 'ofs-delta', 'no-progress'].map((arg) => pkt(`${arg}\n`)),
      ...wants.map((id) => pkt(`want ${id}\n`)),
      ...haves.map((id) => pkt(`have ${id}\n`)),
      pkt('done\n'),
      Buffer.from('0000'),
    ]);
    const res = await uploadPack(remote, body);
    await gitWithInput(gitDir, [...options.config, 'index-pack', '--stdin', '--fix-thin'], {
      env: options.env,
      input: (stdin) => pipeline(res, packfileSection(url), stdin),
    });
  }
  if (updates.some((update) => update.startsWith('delete '))) {
    // A deleted ref may be packed: git rewrites packed-refs, in one transaction with the rest.
    await gitWithInput(gitDir, [...options.config, 'update-ref', '--stdin'], {
      env: options.env,
      input: async (stdin) => {
        stdin.end(`${updates.join('\n')}\n`);
        await finished(stdin);
      },
    });
  } else {
    for (const update of updates) {
      const [, ref, id] = update.split(' ');
      await writeLooseRef(gitDir, ref!, id!);
    }
  }
  return { refs, changed: updates.length };
}

/**
 * Points a ref at an object as git does: the new value in `<ref>.lock` (created exclusively,
 * so a git process at work on the ref makes this fail), fsynced, renamed over the ref, and
 * the directory fsynced. A loose ref overrides a packed one of the same name.
 */
async function writeLooseRef(gitDir: string, ref: string, id: string): Promise<void> {
  const path = join(gitDir, ref);
  await mkdir(dirname(path), { recursive: true });
  const lock = `${path}.lock`;
  const handle = await openFile(lock, 'wx', 0o644);
  try {
    await handle.writeFile(`${id}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(lock, { force: true });
    throw error;
  }
  await handle.close();
  await rename(lock, path);
  await syncDir(dirname(path));
}

/** Enough of what the mirror has for the server to send little more than what is new. */
const MAX_HAVES = 256;

/** Runs git with what `input` writes to its stdin; throws with git's words unless it exits 0. */
async function gitWithInput(
  gitDir: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; input: (stdin: Writable) => Promise<unknown> },
): Promise<void> {
  const child = spawn('git', ['--git-dir', gitDir, ...args], {
    env: options.env,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  const stderr: Buffer[] = [];
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  try {
    await options.input(child.stdin);
  } catch (error) {
    // A git that read all it wanted (index-pack: the pack up to its checksum) may exit
    // before its input ends (here: the response's closing flush packet). Its standard input
    // then breaks; how it exited tells. Any other failure of the input: git is stopped.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPIPE' && code !== 'ERR_STREAM_PREMATURE_CLOSE') child.kill('SIGKILL');
    if ((await exited.catch(() => undefined)) !== 0) throw error;
    return;
  }
  const code = await exited;
  if (code !== 0) {
    const said = Buffer.concat(stderr).toString('utf8').trim();
    throw new Error(
      `git ${args.filter((a) => !a.startsWith('core.')).join(' ')}: exit ${code}: ${said}`,
    );
  }
}

/**
 * The pack out of a v2 fetch response: its `packfile` section, whose pkt-lines carry the
 * pack on band 1, progress on band 2 and the server's error on band 3.
 */
function packfileSection(url: string): Transform {
  let pending: Buffer = Buffer.alloc(0);
  let section: 'start' | 'pack' | 'done' = 'start';
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      let at = 0;
      while (pending.length - at >= 4) {
        const head = pending.toString('latin1', at, at + 4);
        const length = /^[0-9a-f]{4}$/.test(head) ? parseInt(head, 16) : -1;
        if (length < 0 || (length > 0 && length < 4) || section === 'done') {
          callback(new Error(`${url}: not a fetch response (at "${head}")`));
          return;
        }
        if (length === 0) {
          if (section !== 'pack') {
            callback(new Error(`${url}: the fetch response has no pack`));
            return;
          }
          section = 'done';
          at += 4;
          continue;
        }
        if (pending.length - at < length) break;
        const payload = pending.subarray(at + 4, at + length);
        at += length;
        if (section === 'start') {
          if (payload.toString('latin1') !== 'packfile\n') {
            callback(
              new Error(
                `${url}: unexpected fetch section ${JSON.stringify(payload.toString('latin1'))}`,
              ),
            );
            return;
          }
          section = 'pack';
        } else if (payload[0] === 1) this.push(payload.subarray(1));
        else if (payload[0] === 3) {
          callback(
            new Error(`${url}: the server failed: ${payload.subarray(1).toString('utf8').trim()}`),
          );
          return;
        }
      }
      pending = pending.subarray(at);
      callback();
    },
    flush(callback) {
      callback(
        section === 'done' ? undefined : new Error(`${url}: the fetch response ended early`),
      );
    },
  });
}

const OBJECT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/**
 * A bare repository's refs under refs/ (packed, and loose ones over them), or undefined
 * where this cannot tell them as git would: a symbolic or unreadable ref (a power cut
 * mid-write), a ref storage other than files.
 */
export async function readRefs(gitDir: string): Promise<Map<string, string> | undefined> {
  if (await exists(join(gitDir, 'reftable'))) return undefined;
  const refs = new Map<string, string>();
  const packed = await readFile(join(gitDir, 'packed-refs'), 'utf8').catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  });
  for (const line of packed.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('^')) continue;
    const [id, ref] = line.split(' ');
    if (!id || !OBJECT_ID.test(id) || !ref) return undefined;
    refs.set(ref, id);
  }
  const walk = async (dir: string, name: string): Promise<boolean> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const ref = `${name}/${entry.name}`;
      if (entry.isDirectory()) {
        if (!(await walk(path, ref))) return false;
      } else if (!entry.name.endsWith('.lock')) {
        const id = (await readFile(path, 'latin1')).trim();
        if (!OBJECT_ID.test(id)) return false;
        refs.set(ref, id);
      }
    }
    return true;
  };
  return (await walk(join(gitDir, 'refs'), 'refs')) ? refs : undefined;
}
