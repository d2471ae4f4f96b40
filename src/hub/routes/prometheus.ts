import { Hono } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { Sample as PromSample } from '../../agent/collectors/types.js';
import { CONTENT_TYPE, renderPrometheus } from '../../agent/metrics.js';
import type { ResolvedDeps } from '../app.js';
import { httpError } from '../http.js';
import { isOnline } from '../online.js';
import { hashToken } from '../secrets.js';
import type { AlertRecord, DeviceRecord } from '../store/store.js';
import { bearer } from './devices.js';

// The bits of get_throttled: n now, n + 16 since boot.
const THROTTLE_BITS = [
  [0, 'under-voltage'],
  [1, 'arm-frequency-capped'],
  [2, 'throttled'],
  [3, 'soft-temperature-limit'],
] as const;

/** One Prometheus HTTP SD target group. */
export interface TargetGroup {
  targets: string[];
  labels: Record<string, string>;
}

/** Prometheus HTTP service discovery: live devices that told the hub their metrics address. */
export function prometheusTargets(devices: readonly DeviceRecord[], now: number): TargetGroup[] {
  return devices
    .filter((d) => !d.revoked && d.lastHeartbeat?.agent?.metricsAddress)
    .map((d) => ({
      targets: [d.lastHeartbeat!.agent!.metricsAddress!],
      labels: {
        __meta_piot_device: d.name,
        __meta_piot_app: d.lastHeartbeat!.deploy?.app ?? '',
        __meta_piot_online: String(isOnline(d, now)),
      },
    }));
}

/** The fleet's latest values, the active alerts and the hub's counters, as samples. */
export function fleetSamples(
  devices: readonly DeviceRecord[],
  alerts: readonly AlertRecord[],
  options: {
    now: number;
    counters: { heartbeats: number; deliveries: number; deliveriesFailed: number };
  },
): PromSample[] {
  const out: PromSample[] = [];
  const gauge = (name: string, help: string, labels: Record<string, string>, value: number) =>
    out.push({ name, help, type: 'gauge', labels, value });
  for (const d of devices) {
    if (d.revoked) continue;
    const device = { device: d.name };
    gauge(
      'piot_device_online',
      '1 if the device sent a heartbeat recently',
      device,
      Number(isOnline(d, options.now)),
    );
    if (d.lastSeen === undefined) continue;
    gauge(
      'piot_device_last_seen_timestamp_seconds',
      'When the hub last heard from the device',
      device,
      d.lastSeen / 1000,
    );
    const hb = d.lastHeartbeat;
    const m = hb?.metrics ?? {};
    const metric = (name: string, help: string, value: number | undefined) => {
      if (value !== undefined) gauge(name, help, device, value);
    };
    metric(
      'piot_device_temperature_celsius',
      'SoC temperature at the last heartbeat',
      m.temperature,
    );
    metric('piot_device_cpu_ratio', 'CPU busy share at the last heartbeat (0-1)', m.cpu);
    metric('piot_device_memory_ratio', 'Memory used share at the last heartbeat (0-1)', m.memory);
    metric(
      'piot_device_disk_ratio',
      'Root filesystem used share at the last heartbeat (0-1)',
      m.disk,
    );
    metric('piot_device_wifi_signal_dbm', 'Wi-Fi signal at the last heartbeat', m.wifiSignal);
    if (m.throttled !== undefined) {
      for (const [bit, condition] of THROTTLE_BITS) {
        const help = 'get_throttled bits at the last heartbeat: now, and since boot';
        gauge(
          'piot_device_throttled',
          help,
          { ...device, condition, when: 'now' },
          (m.throttled >>> bit) & 1,
        );
        gauge(
          'piot_device_throttled',
          help,
          { ...device, condition, when: 'since_boot' },
          (m.throttled >>> (bit + 16)) & 1,
        );
      }
    }
    if (hb?.services) {
      const down = hb.services.filter((s) => s.kind === 'service' && s.state !== 'active');
      gauge(
        'piot_device_services_not_active',
        'Services of the release not active at the last heartbeat',
        device,
        down.length,
      );
    }
  }
  for (const a of alerts) {
    const labels = { device: a.device, key: a.key, severity: a.severity };
    gauge('piot_alerts_firing', 'Active alerts (1 each)', labels, 1);
  }
  const counter = (name: string, help: string, value: number) =>
    out.push({ name, help, type: 'counter', value });
  counter(
    'piot_hub_heartbeats_total',
    'Heartbeats this hub process accepted',
    options.counters.heartbeats,
  );
  counter(
    'piot_hub_webhook_deliveries_total',
    'Alert notifications this hub process delivered',
    options.counters.deliveries,
  );
  counter(
    'piot_hub_webhook_deliveries_failed_total',
    'Alert notifications this hub process gave up on',
    options.counters.deliveriesFailed,
  );
  return out;
}

/** `GET /api/v1/prometheus/targets` (HTTP SD) and `GET /metrics`, for an API token. */
export function prometheusRoutes(deps: ResolvedDeps): Hono {
  const app = new Hono();
  const apiToken = createMiddleware(async (c, next) => {
    const token = bearer(c.req.header('authorization'));
    if (!token || !(await deps.store.apiTokenUser(hashToken(token)))) {
      throw httpError(
        401,
        'send Authorization: Bearer <API token> (piot hub token create --api USER)',
      );
    }
    await next();
  });
  app.get('/api/v1/prometheus/targets', apiToken, async (c) =>
    c.json(prometheusTargets(await deps.store.listDevices(), deps.now())),
  );
  app.get('/metrics', apiToken, async (c) => {
    const [devices, alerts] = await Promise.all([
      deps.store.listDevices(),
      deps.store.activeAlerts(),
    ]);
    const body = renderPrometheus(
      fleetSamples(devices, alerts, { now: deps.now(), counters: deps.alerts.counters }),
    );
    return c.body(body, 200, { 'content-type': CONTENT_TYPE });
  });
  return app;
}
