import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { signingPublicKey } from '../../image/identity.js';
import { createApp } from '../app.js';
import type { Heartbeat } from '../heartbeat.js';
import { hashPassword, hashToken } from '../secrets.js';
import { signRequest } from '../signing.js';
import { describeEachStore, type OpenedStore } from '../store/test-targets.js';
import { createAlerts, type Alerts } from './engine.js';
import { receiver } from './test-receiver.js';
import { parseWebhook } from './webhooks.js';

const NOW = 1_800_000_000_000;
const HB = '/api/v1/devices/kitchen/heartbeat';

describeEachStore('hub alerts and Prometheus', (target) => {
  let hook: Awaited<ReturnType<typeof receiver>>;
  let opened: OpenedStore;
  let alerts: Alerts;
  let app: ReturnType<typeof createApp>;
  let now: number;
  const { privateKey } = generateKeyPairSync('ed25519');
  const signing = signingPublicKey(privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());

  beforeAll(async () => {
    hook = await receiver();
  });
  afterAll(() => hook.close());
  beforeEach(async () => {
    hook.got.length = 0;
    opened = await target.open();
    now = NOW;
    alerts = createAlerts({
      store: opened.store,
      now: () => now,
      webhooks: [parseWebhook(`${hook.url}/hook`)],
      hubUrl: 'http://hub.test',
      delivery: { backoffMs: 1 },
    });
    app = createApp({ store: opened.store, now: () => now, alerts, logError: () => undefined });
    await opened.store.addEnrolmentToken(hashToken('enrol'), { now: NOW });
    await opened.store.setUser('ada', await hashPassword('correct horse'), NOW);
    await opened.store.addApiToken(hashToken('api-ada'), 'ada', { label: 'test', now: NOW });
    const enrolled = await app.request('/api/v1/enrol', {
      method: 'POST',
      headers: { authorization: 'Bearer enrol' },
      body: JSON.stringify({ name: 'kitchen', signing }),
    });
    expect(enrolled.status).toBe(201);
  });
  afterEach(async () => {
    await alerts.idle();
    await opened.dispose();
  });

  const beat = async (body: Heartbeat, to = app) => {
    const text = JSON.stringify(body);
    const headers = signRequest({
      device: 'kitchen',
      privateKey,
      method: 'POST',
      path: HB,
      body: text,
      now,
    });
    expect((await to.request(HB, { method: 'POST', headers, body: text })).status).toBe(200);
    await alerts.idle();
  };
  const received = () =>
    hook.got.map((g) => {
      const body = JSON.parse(g.body) as { status: string; key: string };
      return `${body.status} ${body.key}`;
    });
  const service = (state: string, restarts: number) => ({
    app: 'web',
    name: 'api',
    kind: 'service' as const,
    state,
    restarts,
  });

  it('sends a failed service once, and resolved when it is active again', async () => {
    await beat({ services: [service('active', 0)] });
    expect(received()).toEqual([]);
    now += 30_000;
    await beat({ services: [service('failed', 0)] });
    now += 30_000;
    await beat({ services: [service('failed', 0)] });
    expect(received()).toEqual(['firing service:web/api']);
    expect(JSON.parse(hook.got[0]!.body)).toMatchObject({
      device: 'kitchen',
      severity: 'critical',
      summary: 'service web/api is failed',
      hub: 'http://hub.test',
    });
    now += 30_000;
    await beat({ services: [service('active', 0)] });
    expect(received()).toEqual(['firing service:web/api', 'resolved service:web/api']);
    // A killed service systemd restarted before the heartbeat: its restart count rose.
    now += 30_000;
    await beat({ services: [service('active', 1)] });
    now += 30_000;
    await beat({ services: [service('active', 1)] });
    expect(received().slice(2)).toEqual(['firing service:web/api', 'resolved service:web/api']);
  });

  it('evaluates a heartbeat that changes nothing in memory, and any other against the store', async () => {
    // The same engine and app, on a store that counts the evaluation's reads.
    let reads = 0;
    const store = opened.store;
    const counting = {
      ...store,
      jobRuns: (name: string, limit: number) => (reads++, store.jobRuns(name, limit)),
    };
    alerts = createAlerts({
      store: counting,
      now: () => now,
      webhooks: [parseWebhook(`${hook.url}/hook`)],
      delivery: { backoffMs: 1 },
    });
    const counted = createApp({ store, now: () => now, alerts, logError: () => undefined });
    await beat({ services: [service('active', 0)] }, counted);
    expect(reads).toBe(1);
    for (let i = 0; i < 3; i++) {
      now += 30_000;
      await beat({ services: [service('active', 0)], metrics: { temperature: 50 + i } }, counted);
    }
    expect(reads).toBe(1);
    now += 30_000;
    await beat({ services: [service('failed', 0)] }, counted);
    expect([reads, received()]).toEqual([2, ['firing service:web/api']]);
    now += 30_000;
    await beat({ services: [service('failed', 0)] }, counted);
    expect(reads).toBe(2);
    // A restart count that rose, and a heartbeat carrying events, are read in full.
    now += 30_000;
    await beat({ services: [service('failed', 1)] }, counted);
    expect(reads).toBe(3);
    const events = [{ at: new Date(now).toISOString(), commit: 'a'.repeat(40), kind: 'failed' }];
    await beat({ services: [service('failed', 1)], events } as Heartbeat, counted);
    expect(reads).toBe(4);
    expect(received()).toEqual(['firing service:web/api', 'firing deploy']);
  });

  it('sends offline when heartbeats stop, and resolved when one comes', async () => {
    await beat({ agent: { version: '0.1.0' } });
    now += 90_000;
    await alerts.checkAll();
    await alerts.idle();
    expect(received()).toEqual([]);
    now += 15_000;
    await alerts.checkAll();
    // A second hub on the same store evaluating too does not send it again.
    const other = await opened.reopen();
    try {
      const twin = createAlerts({
        store: other,
        now: () => now,
        webhooks: [parseWebhook(`${hook.url}/hook`)],
      });
      await twin.checkAll();
      await twin.idle();
    } finally {
      await other.close();
    }
    await alerts.idle();
    expect(received()).toEqual(['firing offline']);
    expect(JSON.parse(hook.got[0]!.body)).toMatchObject({ summary: 'no heartbeat for 105 s' });
    await beat({ agent: { version: '0.1.0' } });
    expect(received()).toEqual(['firing offline', 'resolved offline']);
    expect(alerts.counters).toMatchObject({ heartbeats: 2, deliveries: 2, deliveriesFailed: 0 });
  });

  it('lists scrape targets and the fleet on /metrics, for an API token only', async () => {
    const asAda = (path: string) =>
      app.request(path, { headers: { authorization: 'Bearer api-ada' } });
    expect((await app.request('/metrics')).status).toBe(401);
    expect((await app.request('/api/v1/prometheus/targets')).status).toBe(401);
    expect(await (await asAda('/api/v1/prometheus/targets')).json()).toEqual([]);
    await beat({
      agent: { version: '0.1.0', metricsAddress: '192.168.1.20:9101' },
      metrics: { temperature: 85.5, cpu: 0.25, disk: 0.5, throttled: 0x50004 },
      deploy: { app: 'web' },
      services: [service('activating', 3)],
    });
    const targets = await asAda('/api/v1/prometheus/targets');
    expect(targets.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await targets.json()).toEqual([
      {
        targets: ['192.168.1.20:9101'],
        labels: {
          __meta_piot_device: 'kitchen',
          __meta_piot_app: 'web',
          __meta_piot_online: 'true',
        },
      },
    ]);
    const metrics = await asAda('/metrics');
    expect(metrics.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await metrics.text();
    for (const line of [
      'piot_device_online{device="kitchen"} 1',
      `piot_device_last_seen_timestamp_seconds{device="kitchen"} ${NOW / 1000}`,
      'piot_device_temperature_celsius{device="kitchen"} 85.5',
      'piot_device_cpu_ratio{device="kitchen"} 0.25',
      'piot_device_throttled{condition="throttled",device="kitchen",when="now"} 1',
      'piot_device_throttled{condition="under-voltage",device="kitchen",when="since_boot"} 1',
      'piot_device_throttled{condition="under-voltage",device="kitchen",when="now"} 0',
      'piot_device_services_not_active{device="kitchen"} 1',
      'piot_alerts_firing{device="kitchen",key="service:web/api",severity="warning"} 1',
      'piot_alerts_firing{device="kitchen",key="temperature",severity="warning"} 1',
      'piot_hub_heartbeats_total 1',
      '# TYPE piot_hub_webhook_deliveries_failed_total counter',
    ]) {
      expect(text).toContain(`${line}\n`);
    }
    const bad = JSON.stringify({ agent: { version: '1', metricsAddress: 'no port' } });
    const headers = signRequest({
      device: 'kitchen',
      privateKey,
      method: 'POST',
      path: HB,
      body: bad,
      now,
    });
    const refused = await app.request(HB, { method: 'POST', headers, body: bad });
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { error: string }).error).toMatch(
      /agent\.metricsAddress is not HOST:PORT/,
    );
  });
});
