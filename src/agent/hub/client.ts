import { createPrivateKey, type KeyObject } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import {
  deriveSessionKey,
  SESSION_ID,
  sessionKeyPair,
  sharedSecret,
  signRequest,
  type DeviceSession,
} from '../../hub/signing.js';

/** A command from the hub (src/hub/commands.ts), as the device receives it. */
export interface HubCommand {
  id: string;
  kind: string;
  args?: Record<string, unknown>;
  createdBy?: string;
}

/** The device's answer to a command. */
export interface HubCommandResult {
  ok: boolean;
  message?: string;
  output?: string[];
}

/** Why a request to the hub failed: `status` is the HTTP status, 0 when none came back. */
export class HubRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The hub no longer holds the device session the request was signed with. */
    readonly staleSession = false,
  ) {
    super(message);
    this.name = 'HubRequestError';
  }

  /** True when asking again later may work (no answer, or the hub's own trouble). */
  get retryable(): boolean {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

/** What the device says to the hub. */
export interface HubClient {
  /** Enrols with the one-time token; resolves when the hub knows this device and key. */
  enrol(token: string, signing: string): Promise<void>;
  heartbeat(body: unknown): Promise<void>;
  /** Waits up to `waitS` seconds for commands. */
  commands(waitS: number, signal?: AbortSignal): Promise<HubCommand[]>;
  result(id: string, result: HubCommandResult): Promise<void>;
}

/**
 * A hub client for one device. It opens a device session with a request signed by the
 * device's Ed25519 key (PKCS#8 PEM) and signs its requests with the session's key until the
 * session nears its end; against a hub without sessions, it signs each with the Ed25519 key.
 */
export function hubClient(options: {
  url: string;
  device: string;
  privateKey: string | KeyObject;
  /** Longest wait for an ordinary request, ms (a long poll adds its wait). */
  timeoutMs?: number;
  /** Sign every request with the Ed25519 key, opening no session. */
  sessions?: boolean;
  /** After a hub without sessions answered, how long to sign with the Ed25519 key (ms). */
  sessionRetryMs?: number;
}): HubClient {
  const base = options.url.replace(/\/+$/, '');
  const key =
    typeof options.privateKey === 'string'
      ? createPrivateKey(options.privateKey)
      : options.privateKey;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const devicePath = `/api/v1/devices/${encodeURIComponent(options.device)}`;

  const prefix = new URL(base).pathname.replace(/\/+$/, '');
  // Sessions are timed on a monotonic clock: a Pi's wall clock may jump when it syncs.
  const monotonicMs = () => Number(process.hrtime.bigint() / 1_000_000n);
  let session: (DeviceSession & { renewAt: number }) | undefined;
  let opening: Promise<DeviceSession | undefined> | undefined;
  // Until when to sign with the device's key: always if told so, else for a while after a hub
  // without sessions answered (it may be upgraded meanwhile).
  let deviceKeyUntil = options.sessions === false ? Infinity : -Infinity;

  /** The session to sign with: the current one, or a new one near its end or after a refusal. */
  function currentSession(): Promise<DeviceSession | undefined> {
    if (monotonicMs() < deviceKeyUntil) return Promise.resolve(undefined);
    if (session && monotonicMs() < session.renewAt) return Promise.resolve(session);
    opening ??= openSession().finally(() => (opening = undefined));
    return opening;
  }

  async function openSession(): Promise<DeviceSession | undefined> {
    const mine = sessionKeyPair();
    let answer: { session?: unknown; x25519?: unknown; expiresIn?: unknown } | undefined;
    try {
      answer = (await exchange(
        'POST',
        `${devicePath}/session`,
        { x25519: mine.publicKey },
        { session: undefined },
      )) as typeof answer;
    } catch (error) {
      // A hub from before sessions: sign with the device's key, and ask again in an hour.
      if (error instanceof HubRequestError && error.status === 404) {
        deviceKeyUntil = monotonicMs() + (options.sessionRetryMs ?? 3_600_000);
        return undefined;
      }
      throw error;
    }
    const { session: id, x25519, expiresIn } = answer ?? {};
    const shared = typeof x25519 === 'string' ? sharedSecret(mine.privateKey, x25519) : undefined;
    if (
      typeof id !== 'string' ||
      !SESSION_ID.test(id) ||
      !shared ||
      typeof expiresIn !== 'number' ||
      !(expiresIn > 0)
    ) {
      throw new HubRequestError(
        `the hub at ${base} answered a session request with no usable session`,
        0,
      );
    }
    // Renewed at 90 % of its life, so it does not expire between signing and arriving.
    session = {
      id,
      key: deriveSessionKey(shared, id, options.device),
      renewAt: monotonicMs() + 900 * expiresIn,
    };
    return session;
  }

  async function request(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    extra: { headers?: Record<string, string>; waitMs?: number; signal?: AbortSignal } = {},
  ): Promise<unknown> {
    if (extra.headers) return exchange(method, path, body, { ...extra, session: undefined });
    const signedWith = await currentSession();
    try {
      return await exchange(method, path, body, { ...extra, session: signedWith });
    } catch (error) {
      if (!(signedWith && error instanceof HubRequestError && error.staleSession)) throw error;
      // The hub dropped the session (expired early, or replaced): open a new one, once.
      if (session === signedWith) session = undefined;
      return exchange(method, path, body, { ...extra, session: await currentSession() });
    }
  }

  /** One request, signed with `session`'s key, or the device's key if there is none. */
  async function exchange(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    extra: {
      headers?: Record<string, string>;
      waitMs?: number;
      signal?: AbortSignal;
      session: DeviceSession | undefined;
    },
  ): Promise<unknown> {
    const text = body === undefined ? '' : JSON.stringify(body);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      ...(extra.headers ??
        signRequest({
          device: options.device,
          privateKey: key,
          session: extra.session,
          method,
          path: `${prefix}${path}`,
          body: text,
        })),
    };
    const signals = [AbortSignal.timeout(timeoutMs + (extra.waitMs ?? 0))];
    if (extra.signal) signals.push(extra.signal);
    const combined = anySignal(signals);
    let response: { status: number; text: string };
    try {
      response = await send(`${base}${path}`, {
        method,
        headers,
        body: method === 'GET' ? undefined : text,
        signal: combined.signal,
      });
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      const why = code === 'ABORT_ERR' ? 'no answer in time' : (code ?? message);
      throw new HubRequestError(`the hub at ${base} did not answer (${why})`, 0);
    } finally {
      combined.dispose();
    }
    const answer = response.text;
    if (response.status < 200 || response.status > 299) {
      let message = answer.slice(0, 300);
      let renew = false;
      try {
        const parsed = JSON.parse(answer) as { error?: string; renew?: unknown };
        message = parsed.error ?? message;
        renew = response.status === 401 && parsed.renew === true;
      } catch {
        // Not JSON (a proxy's error page): the text is the message.
      }
      throw new HubRequestError(
        `the hub answered ${response.status} to ${method} ${path}: ${message}`,
        response.status,
        renew,
      );
    }
    return answer === '' ? undefined : (JSON.parse(answer) as unknown);
  }

  return {
    async enrol(token, signing) {
      await request(
        'POST',
        '/api/v1/enrol',
        { name: options.device, signing },
        { headers: { authorization: `Bearer ${token}` } },
      );
    },
    async heartbeat(body) {
      await request('POST', `${devicePath}/heartbeat`, body);
    },
    async commands(waitS, signal) {
      const answer = (await request('GET', `${devicePath}/commands?wait=${waitS}`, undefined, {
        waitMs: waitS * 1000,
        signal,
      })) as { commands?: HubCommand[] } | undefined;
      return answer?.commands ?? [];
    },
    async result(id, result) {
      await request('POST', `${devicePath}/commands/${encodeURIComponent(id)}/result`, result);
    },
  };
}

/**
 * One HTTP(S) request and its whole answer as text. node:http rather than fetch: fetch loads
 * undici and its WebAssembly parser, about 19 MiB more resident memory for the agent.
 */
function send(
  url: string,
  options: {
    method: string;
    headers: Record<string, string>;
    body?: string;
    signal: AbortSignal;
  },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(
      url,
      { method: options.method, headers: options.headers, signal: options.signal },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
        res.on('close', () => {
          if (!res.complete) reject(new Error('the connection closed mid-answer'));
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

// AbortSignal.any arrived in Node 20; the agent runs on Node 18 too. dispose() unhooks it from
// long-lived signals, which would otherwise gather one listener per request.
function anySignal(signals: AbortSignal[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const hooked: [AbortSignal, () => void][] = [];
  for (const signal of signals) {
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    const abort = () => controller.abort(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    hooked.push([signal, abort]);
  }
  return {
    signal: controller.signal,
    dispose: () => hooked.forEach(([signal, abort]) => signal.removeEventListener('abort', abort)),
  };
}
