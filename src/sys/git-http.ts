import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

/**
 * `git ls-remote` for one ref over git's smart HTTP, in this process: on a Pi, spawning
 * git (and its HTTP helper) for an idle poll costs far more than the request itself.
 * Protocol v2 asks for the one ref (`ls-refs` with a `ref-prefix`); a server that only
 * speaks v0 answers the first request with all its refs. A server that spoke v2 (as
 * `options.server` remembers) is asked with the one request from then on: ls-refs needs
 * nothing from the advertisement. Should that fail, the two requests again. Throws on
 * anything unexpected, so that the caller can ask git instead.
 */
export async function lsRemoteHttp(
  url: string,
  ref: string,
  options: {
    timeoutMs?: number;
    /** Kept between calls by the caller: what this server was found to speak. */
    server?: { v2?: boolean };
  } = {},
): Promise<string | undefined> {
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
  const base = `${target.origin}${target.pathname.replace(/\/+$/, '')}`;
  const timeoutMs = options.timeoutMs ?? 30_000;

  const server = options.server ?? {};
  if (server.v2) {
    try {
      return await lsRefs(base, ref, headers, timeoutMs);
    } catch (error) {
      server.v2 = false;
      // The network failing is the caller's to judge; anything else: the whole dialogue again.
      if (typeof (error as NodeJS.ErrnoException).code === 'string') throw error;
    }
  }
  const advertised = await exchange(
    `${base}/info/refs?service=git-upload-pack`,
    { method: 'GET', headers },
    'application/x-git-upload-pack-advertisement',
    timeoutMs,
  );
  const lines = pktLines(advertised);
  if (lines[0]?.text === '# service=git-upload-pack\n') lines.splice(0, 2);
  if (lines[0]?.text !== 'version 2\n') return advertisedRefs(lines).get(ref);
  const head = await lsRefs(base, ref, headers, timeoutMs);
  server.v2 = true;
  return head;
}

/** Protocol v2 `ls-refs` for the refs starting with ref; the one named ref's commit. */
async function lsRefs(
  base: string,
  ref: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<string | undefined> {
  const body = Buffer.concat([
    pkt('command=ls-refs\n'),
    Buffer.from('0001'),
    pkt(`ref-prefix ${ref}\n`),
    Buffer.from('0000'),
  ]);
  const listed = await exchange(
    `${base}/git-upload-pack`,
    {
      method: 'POST',
      headers: {
        ...headers,
        'content-type': 'application/x-git-upload-pack-request',
        accept: 'application/x-git-upload-pack-result',
        'content-length': String(body.length),
      },
      body,
    },
    'application/x-git-upload-pack-result',
    timeoutMs,
  );
  const refs = new Map<string, string>();
  for (const line of pktLines(listed)) {
    if (line.text === undefined) break;
    const match = /^([0-9a-f]{40,64}) (\S+)/.exec(line.text);
    if (!match) throw new Error(`unexpected ls-refs line: ${JSON.stringify(line.text)}`);
    refs.set(match[2]!, match[1]!);
  }
  return refs.get(ref);
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

/** One request; the answer's body when it is a 200 of the expected type. */
function exchange(
  url: string,
  request: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: Buffer },
  type: string,
  timeoutMs: number,
): Promise<Buffer> {
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
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_ANSWER) req.destroy(new Error(`${url}: answer over ${MAX_ANSWER} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      },
    );
    req.on('timeout', () =>
      req.destroy(
        Object.assign(new Error(`${url}: no answer in ${timeoutMs} ms`), { code: 'ETIMEDOUT' }),
      ),
    );
    req.on('error', reject);
    req.end(request.body);
  });
}
