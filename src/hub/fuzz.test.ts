import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { signingPublicKey } from '../image/identity.js';
import { createApp } from './app.js';
import { startHub } from './serve.js';
import { hashToken } from './secrets.js';
import { signRequest } from './signing.js';
import { describeEachStore, type OpenedStore } from './store/test-targets.js';

/** A small seeded PRNG (mulberry32), so a failing case can be replayed. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NOW = 1_800_000_000_000;
const SEED = 20261127;

describeEachStore('hub API under 1,000 malformed requests', (target) => {
  let opened: OpenedStore;
  beforeEach(async () => {
    opened = await target.open();
  });
  afterEach(() => opened.dispose());

  // In the app (hono's request()), and on a socket: the server's own request listener, with
  // its direct path for heartbeats (./fast-path.ts).
  it.each(['app', 'socket'] as const)('never answers 5xx and keeps working (%s)', async (via) => {
    const random = prng(SEED);
    const int = (n: number) => Math.floor(random() * n);
    const pick = <T>(items: T[]): T => items[int(items.length)]!;
    const errors: unknown[] = [];
    const statuses = new Set<number>();
    const deps = {
      store: opened.store,
      now: () => NOW,
      rateLimits: { burst: 1e6, perMinute: 1e6 },
      logError: (error: unknown) => errors.push(error),
    };
    const hub = via === 'socket' ? await startHub(deps, { hostname: '127.0.0.1', port: 0 }) : null;
    const app = createApp(deps);
    const request = (path: string, init?: RequestInit) =>
      hub
        ? fetch(hub.url + path, { ...init, redirect: 'manual' })
        : app.request(`http://hub${path}`, init);
    try {
      await fuzz();
    } finally {
      await hub?.close();
    }
    async function fuzz() {
      const { privateKey } = generateKeyPairSync('ed25519');
      const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      await opened.store.addEnrolmentToken(hashToken('t'), { now: NOW });
      const enrolled = await request('/api/v1/enrol', {
        method: 'POST',
        headers: { authorization: 'Bearer t' },
        body: JSON.stringify({ name: 'kitchen', signing: signingPublicKey(pem) }),
      });
      expect(enrolled.status).toBe(201);

      const value = (depth: number): unknown => {
        switch (int(depth > 3 ? 6 : 9)) {
          case 0:
            return null;
          case 1:
            return random() < 0.5;
          case 2:
            return pick([0, -1, 1e308, -1e-308, 0.5, 2 ** 53 + 1, 42]);
          case 3:
            return pick(['', 'x'.repeat(int(5000)), '\u0000', '💥', 'ed25519:AAAA', '../..']);
          case 4:
            return pick(['kitchen', 'Kitchen', 'a'.repeat(70), '0.1.0', 'succeeded']);
          case 5:
            return int(100);
          case 6:
            return Array.from({ length: int(5) }, () => value(depth + 1));
          default: {
            const keys = [
              'name',
              'signing',
              'password',
              'agent',
              'metrics',
              'cpu',
              'deploy',
              'events',
              'jobRuns',
              'log',
              'at',
              'kind',
              'version',
              '__proto__',
              'constructor',
            ];
            return Object.fromEntries(
              Array.from({ length: int(6) }, () => [pick(keys), value(depth + 1)]),
            );
          }
        }
      };
      const body = (): Uint8Array => {
        switch (int(8)) {
          case 0:
            return Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0x7b, 0x80]);
          case 1:
            return Buffer.alloc(256 * 1024 + 1 + int(4096), 0x5b);
          case 2:
            return Buffer.from('['.repeat(100_000));
          case 3:
            return Buffer.from(JSON.stringify(value(0)).slice(0, int(40)));
          case 4:
            return new Uint8Array();
          default:
            return Buffer.from(JSON.stringify(value(0)) ?? 'null');
        }
      };
      const paths = [
        '/api/v1/enrol',
        '/login',
        '/api/v1/devices',
        '/api/v1/devices/kitchen',
        '/api/v1/devices/kitchen/heartbeat',
        '/api/v1/devices/garage/heartbeat',
        '/api/v1/devices/%ff/heartbeat',
        '/api/v1/devices/kitchen/commands?wait=x',
        '/api/v1/devices/kitchen/commands?wait=0',
        '/api/v1/devices/kitchen/session',
        '/%00',
        '/',
        '/devices/kitchen/actions',
        '/devices/%ff',
        '/logout',
      ];
      const contentTypes = [
        'application/json',
        'application/x-www-form-urlencoded',
        'text/plain; charset=latin1',
        '',
      ];
      const authorizations = [
        'Bearer t',
        'Bearer ',
        'Basic xx',
        'Bearer \u00ff',
        '',
        'Bearer ' + 'x'.repeat(600),
      ];
      const cookies = ['piot_session=%E0%A4%A', 'piot_session=', 'a=b; piot_session=x', ''];
      for (let i = 0; i < 1000; i++) {
        const path = pick(paths);
        const method = pick(['POST', 'POST', 'GET', 'PUT', 'DELETE']);
        const data = method === 'GET' ? undefined : body();
        const headers: Record<string, string> = {};
        if (random() < 0.5) headers['content-type'] = pick(contentTypes);
        if (random() < 0.5) headers.authorization = pick(authorizations);
        if (random() < 0.3) headers.cookie = pick(cookies);
        if (/heartbeat|commands|session/.test(path) && random() < 0.7) {
          Object.assign(
            headers,
            signRequest({
              device: pick(['kitchen', 'kitchen', 'garage', '']),
              privateKey: pem,
              method,
              path,
              body: data,
              now: NOW + pick([0, 0, -10 * 60_000]),
              nonce: random() < 0.1 ? 'x'.repeat(16) : undefined,
            }),
          );
          if (random() < 0.1) headers['x-piot-time'] = pick(['-1', 'NaN', '1e99', '']);
          if (random() < 0.1)
            headers['x-piot-signature'] = pick(['', '!!!', 'A'.repeat(86) + '==']);
          if (random() < 0.1) {
            headers['x-piot-session'] = pick(['', '!'.repeat(22), 'A'.repeat(22), '\u00ff']);
            if (random() < 0.5) headers['x-piot-signature'] = 'A'.repeat(43) + '=';
          }
        }
        const response = await request(path, { method, headers, body: data });
        if (response.status >= 500) {
          throw new Error(
            `request ${i} (${method} ${path}) got ${response.status}: ${await response.text()}`,
          );
        }
        statuses.add(response.status);
        await response.arrayBuffer();
      }
      expect(errors).toEqual([]);
      // The requests reached every kind of refusal, and some got through (303: the dashboard
      // sends a browser without a session to the login form).
      expect([...statuses].sort()).toEqual([200, 303, 400, 401, 403, 404, 413]);
      expect((await request('/healthz')).status).toBe(200);
      const ok = JSON.stringify({ metrics: { cpu: 0.1 } });
      const headers = signRequest({
        device: 'kitchen',
        privateKey: pem,
        method: 'POST',
        path: '/api/v1/devices/kitchen/heartbeat',
        body: ok,
        now: NOW,
      });
      const still = await request('/api/v1/devices/kitchen/heartbeat', {
        method: 'POST',
        headers,
        body: ok,
      });
      expect(still.status).toBe(200);
    }
  });
});
