import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getRequestListener } from '@hono/node-server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { signingPublicKey } from '../image/identity.js';
import { createHub, type Hub } from './app.js';
import { withHeartbeatPath } from './fast-path.js';
import { hashToken } from './secrets.js';
import { signRequest } from './signing.js';
import { openStore } from './store/open.js';
import type { Store } from './store/store.js';

const NOW = 1_800_000_000_000;
const PATH = '/api/v1/devices/kitchen/heartbeat';

describe('the direct heartbeat path', () => {
  let data: string;
  let store: Store;
  let hub: Hub;
  let server: Server;
  let url: string;
  let pem: string;
  /** Requests the direct path passed on to the app. */
  let passedOn: string[];
  let errors: unknown[];

  beforeEach(async () => {
    data = await mkdtemp(join(tmpdir(), 'piot-fast-path-'));
    store = await openStore({ data });
    errors = [];
    hub = createHub({ store, now: () => NOW, logError: (error) => errors.push(error) });
    const app = getRequestListener(hub.app.fetch);
    passedOn = [];
    server = createServer(
      withHeartbeatPath(hub, (req, res) => {
        passedOn.push(`${req.method} ${req.url}`);
        void app(req, res);
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { privateKey } = generateKeyPairSync('ed25519');
    pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await store.addEnrolmentToken(hashToken('t'), { now: NOW });
    const enrolled = await hub.app.request('/api/v1/enrol', {
      method: 'POST',
      headers: { authorization: 'Bearer t' },
      body: JSON.stringify({ name: 'kitchen', signing: signingPublicKey(pem) }),
    });
    expect(enrolled.status).toBe(201);
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await store.close();
    await rm(data, { recursive: true, force: true });
  });

  const signed = (body: string | Buffer, options: { device?: string; nonce?: string } = {}) => ({
    'content-type': 'application/json',
    ...signRequest({
      device: options.device ?? 'kitchen',
      privateKey: pem,
      method: 'POST',
      path: PATH,
      body,
      now: NOW,
      nonce: options.nonce,
    }),
  });
  /** Status, content type and body of an answer. */
  const read = async (response: Response) => ({
    status: response.status,
    type: response.headers.get('content-type'),
    body: await response.text(),
  });

  it('takes a heartbeat without the app, and answers each request as the app does', async () => {
    const beat = JSON.stringify({ metrics: { temperature: 51.5, cpu: 0.25 } });
    const taken = await read(
      await fetch(url + PATH, { method: 'POST', headers: signed(beat), body: beat }),
    );
    expect(taken).toEqual({
      status: 200,
      type: 'application/json',
      body: JSON.stringify({ ok: true, hubTime: NOW }),
    });
    expect(passedOn).toEqual([]);
    expect((await store.getDevice('kitchen'))?.lastHeartbeat?.metrics).toEqual({
      temperature: 51.5,
      cpu: 0.25,
    });

    // Refusals: each answered on the socket as the app answers the same request.
    const replay = signed(beat);
    await fetch(url + PATH, { method: 'POST', headers: replay, body: beat });
    const badUtf8 = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]);
    const cases: [string, Record<string, string>, string | Buffer][] = [
      ['unsigned', { 'content-type': 'application/json' }, beat],
      ['replayed', replay, beat],
      ['bad JSON', signed('{"metrics":'), '{"metrics":'],
      ['invalid', signed('{"metrics":{"cpu":7}}'), '{"metrics":{"cpu":7}}'],
      ['bad UTF-8', signed(badUtf8), badUtf8],
      ['signed by another device', signed(beat, { device: 'garage' }), beat],
      ['tampered', signed(beat), beat.replace('51.5', '99')],
    ];
    for (const [what, headers, body] of cases) {
      const onSocket = await read(await fetch(url + PATH, { method: 'POST', headers, body }));
      // The app sees the same request again: a fresh nonce where the first was taken.
      const again = what === 'bad JSON' || what === 'invalid' || what === 'bad UTF-8';
      const appHeaders = again ? signed(body) : headers;
      const inApp = await read(
        await hub.app.request(PATH, { method: 'POST', headers: appHeaders, body }),
      );
      expect({ what, ...onSocket }).toEqual({ what, ...inApp });
      expect(onSocket.status).toBeGreaterThanOrEqual(400);
    }
    expect(passedOn).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('leaves every other request to the app: other routes, chunked and oversized bodies', async () => {
    const beat = JSON.stringify({ metrics: { cpu: 0.5 } });
    const chunked = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(Buffer.from(beat));
        controller.close();
      },
    });
    const streamed = await fetch(url + PATH, {
      method: 'POST',
      headers: signed(beat),
      body: chunked,
      duplex: 'half',
    });
    expect(streamed.status).toBe(200);
    const large = 'x'.repeat(256 * 1024 + 1);
    const tooLarge = await fetch(url + PATH, {
      method: 'POST',
      headers: signed(large),
      body: large,
    });
    expect(await read(tooLarge)).toEqual({
      status: 413,
      type: 'application/json',
      body: JSON.stringify({ error: 'the body is larger than 262144 bytes' }),
    });
    expect((await fetch(url + PATH)).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const odd = '/api/v1/devices/Kitchen/heartbeat';
    expect((await fetch(url + odd, { method: 'POST', body: beat })).status).toBe(401);
    expect(passedOn).toEqual([
      `POST ${PATH}`,
      `POST ${PATH}`,
      `GET ${PATH}`,
      'GET /healthz',
      `POST ${odd}`,
    ]);
  });

  it('answers 500 and logs an unexpected failure, as the app does', async () => {
    store.recordHeartbeat = () => Promise.reject(new Error('disk on fire'));
    const beat = JSON.stringify({ metrics: { cpu: 0.5 } });
    const answer = await read(
      await fetch(url + PATH, { method: 'POST', headers: signed(beat), body: beat }),
    );
    expect(answer).toEqual({
      status: 500,
      type: 'application/json',
      body: JSON.stringify({ error: 'internal error' }),
    });
    expect(errors.map(String)).toEqual(['Error: disk on fire']);
    expect(passedOn).toEqual([]);
  });
});
