import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signingPublicKey } from '../../image/identity.js';
import { createEnrolmentToken } from '../../hub/admin.js';
import { startHub, type RunningHub } from '../../hub/serve.js';
import {
  canonicalRequest,
  NONCE_HEADER,
  parseSigningKey,
  SESSION_HEADER,
  SIGNATURE_HEADER,
  TIME_HEADER,
  verifySignature,
} from '../../hub/signing.js';
import { openStore } from '../../hub/store/open.js';
import type { Store } from '../../hub/store/store.js';
import { hubClient } from './client.js';

const pem = generateKeyPairSync('ed25519')
  .privateKey.export({ format: 'pem', type: 'pkcs8' })
  .toString();
const beat = { agent: { version: '9.9.9' }, metrics: { temperature: 50 } };

describe('the hub client', () => {
  let dir: string;
  let store: Store;
  let hub: RunningHub;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'piot-client-'));
    store = await openStore({ data: dir });
    hub = await startHub({ store }, { hostname: '127.0.0.1', port: 0 });
    const { token } = await createEnrolmentToken(store, { now: Date.now() });
    await hubClient({ url: hub.url, device: 'kitchen', privateKey: pem }).enrol(
      token,
      signingPublicKey(pem),
    );
  });
  afterEach(async () => {
    await hub.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  const sessionId = async () => (await store.deviceKey('kitchen'))?.session?.id;

  it('signs with a session, keeps it, and opens another when the hub drops it', async () => {
    const client = hubClient({ url: hub.url, device: 'kitchen', privateKey: pem });
    expect(await sessionId()).toBeUndefined();
    await Promise.all([client.heartbeat(beat), client.heartbeat(beat), client.commands(0)]);
    const first = await sessionId();
    expect(first).toMatch(/^[A-Za-z0-9_-]{22}$/);
    await client.heartbeat(beat);
    expect(await sessionId()).toBe(first);
    // The hub replaced the session (another hub process, an early expiry): the client's next
    // request is refused once, and it opens a new session and sends it again.
    await store.openDeviceSession('kitchen', {
      id: 'x'.repeat(22),
      key: Buffer.alloc(32).toString('base64'),
      expiresAt: Date.now() + 60_000,
    });
    await client.heartbeat({ ...beat, metrics: { temperature: 61 } });
    const second = await sessionId();
    expect(second).not.toBe(first);
    expect(second).not.toBe('x'.repeat(22));
    expect((await store.getDevice('kitchen'))?.lastHeartbeat?.metrics).toEqual({
      temperature: 61,
    });
  });

  it('signs with the device key when told to, opening no session', async () => {
    const client = hubClient({ url: hub.url, device: 'kitchen', privateKey: pem, sessions: false });
    await client.heartbeat(beat);
    expect(await sessionId()).toBeUndefined();
    expect((await store.getDevice('kitchen'))?.lastSeen).toBeGreaterThan(0);
  });

  it('names the failure when the device is unknown to the hub', async () => {
    const other = generateKeyPairSync('ed25519')
      .privateKey.export({ format: 'pem', type: 'pkcs8' })
      .toString();
    const client = hubClient({ url: hub.url, device: 'garage', privateKey: other });
    await expect(client.heartbeat(beat)).rejects.toThrow(
      /401 to POST \/api\/v1\/devices\/garage\/session: unknown device "garage"/,
    );
  });
});

describe('the hub client against a hub without sessions', () => {
  let server: Server;
  let url: string;
  const seen: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];

  beforeEach(async () => {
    seen.length = 0;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url?.endsWith('/session')) {
          res.writeHead(404, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: `no route for POST ${req.url}` }));
        } else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('asks once, then signs each request with the Ed25519 key', async () => {
    const client = hubClient({ url, device: 'kitchen', privateKey: pem });
    await client.heartbeat(beat);
    await client.heartbeat(beat);
    expect(seen.map((s) => s.path)).toEqual([
      '/api/v1/devices/kitchen/session',
      '/api/v1/devices/kitchen/heartbeat',
      '/api/v1/devices/kitchen/heartbeat',
    ]);
    const key = parseSigningKey(signingPublicKey(pem))!;
    for (const { path, headers, body } of seen.slice(1)) {
      expect(headers[SESSION_HEADER]).toBeUndefined();
      const text = canonicalRequest({
        method: 'POST',
        path,
        time: String(headers[TIME_HEADER]),
        nonce: String(headers[NONCE_HEADER]),
        body: Buffer.from(body),
      });
      expect(verifySignature(key, text, String(headers[SIGNATURE_HEADER]))).toBe(true);
    }
  });

  it('asks again once its wait is over (the hub may have been upgraded)', async () => {
    const client = hubClient({ url, device: 'kitchen', privateKey: pem, sessionRetryMs: 0 });
    await client.heartbeat(beat);
    await client.heartbeat(beat);
    expect(seen.map((s) => s.path.split('/').at(-1))).toEqual([
      'session',
      'heartbeat',
      'session',
      'heartbeat',
    ]);
  });
});
