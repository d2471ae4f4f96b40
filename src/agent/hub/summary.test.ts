import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectAll } from '../collectors/index.js';
import { fixtureContext, valueOf } from '../collectors/test-context.js';
import { carryOut, type CommandHost } from './commands.js';
import { metricsAddress } from './device.js';
import { sampleQueue } from './queue.js';
import { appServices, cpuTotals, summarize } from './summary.js';

describe('the hub summary of a collection', () => {
  it("reads a Pi 4's temperature, memory, disk, Wi-Fi, throttling and failed units", async () => {
    const samples = await collectAll(
      fixtureContext('pi4', {
        units: {
          services: () => Promise.resolve([]),
          failedUnits: () => Promise.resolve(['rpi-eeprom-update.service']),
        },
      }),
    );
    const { metrics, health, cpu } = summarize(samples);
    const total = valueOf(samples, 'node_memory_MemTotal_bytes');
    const available = valueOf(samples, 'node_memory_MemAvailable_bytes');
    expect(metrics).toEqual({
      temperature: 48.7,
      memory: Number((1 - available / total).toFixed(4)),
      // The fixture's / is 7562176 blocks with 6158188 available to users.
      disk: Number((1 - 6158188 / 7562176).toFixed(4)),
      wifiSignal: valueOf(samples, 'piot_wifi_signal_dbm'),
      throttled: valueOf(samples, 'piot_rpi_throttled_raw'),
    });
    expect(metrics.throttled! & 1).toBe(1);
    expect(health.readOnlyRoot).toBe(false);
    expect(health.failedUnits).toEqual(['rpi-eeprom-update.service']);
    // CPU is a share between two looks: none from one alone, the busy share from two.
    expect(metrics.cpu).toBeUndefined();
    const later = samples.map((s) =>
      s.name === 'node_cpu_seconds_total'
        ? {
            ...s,
            value: s.value + (s.labels!.mode === 'idle' ? 3 : s.labels!.mode === 'user' ? 1 : 0),
          }
        : s,
    );
    expect(summarize(later, cpu).metrics.cpu).toBe(0.25);
  });

  it('leaves out what a VM does not have, and sees a read-only root', async () => {
    const vm = summarize(await collectAll(fixtureContext('vm')));
    expect(vm.metrics.temperature).toBeUndefined();
    expect(vm.metrics.throttled).toBeUndefined();
    expect(vm.metrics.wifiSignal).toBeUndefined();
    expect(vm.metrics.memory).toBeGreaterThan(0);
    const ro = summarize(await collectAll(fixtureContext('pi4-readonly')));
    expect(ro.health.readOnlyRoot).toBe(true);
    // Without systemd there is no list of failed units, rather than an empty one.
    expect(ro.health.failedUnits).toBeUndefined();
    expect(cpuTotals([])).toBeUndefined();
  });

  it("lists the app's services and jobs, jobs systemd has not loaded too", () => {
    const services = appServices(
      [
        { unit: 'piot-agent.service', activeState: 'active' },
        {
          unit: 'piot-sensor-reader.service',
          activeState: 'failed',
          subState: 'failed',
          restarts: 3,
        },
        { unit: 'piot-sensor-upload.service', activeState: 'inactive', cpuSeconds: 0.12345 },
      ],
      'sensor',
      new Set(['upload', 'backup']),
    );
    expect(services).toEqual([
      {
        app: 'sensor',
        name: 'reader',
        kind: 'service',
        state: 'failed',
        sub: 'failed',
        restarts: 3,
      },
      { app: 'sensor', name: 'upload', kind: 'job', state: 'inactive', cpu: 0.123 },
      { app: 'sensor', name: 'backup', kind: 'job', state: 'inactive' },
    ]);
  });
});

describe('the sample queue', () => {
  it('keeps samples in order across restarts, bounded, and survives a torn line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'piot-queue-'));
    try {
      const path = join(dir, 'queue.jsonl');
      const queue = sampleQueue(path, 8);
      for (let at = 1; at <= 5; at++) await queue.push({ at, metrics: { cpu: at / 10 } });
      expect((await sampleQueue(path, 8).peek(10)).map((s) => s.at)).toEqual([1, 2, 3, 4, 5]);
      await queue.drop(2);
      expect((await sampleQueue(path, 8).peek(2)).map((s) => s.at)).toEqual([3, 4]);
      // Full: the oldest quarter beyond the limit goes, and is counted.
      for (let at = 6; at <= 11; at++) await queue.push({ at, metrics: {} });
      expect((await queue.peek(100)).map((s) => s.at)).toEqual([6, 7, 8, 9, 10, 11]);
      expect(queue.overflowed).toBe(3);
      // A power cut mid-append leaves half a line: it is skipped, later samples are kept.
      await writeFile(path, `${await readFile(path, 'utf8')}{"at":12,"met`);
      const reopened = sampleQueue(path, 8);
      await reopened.push({ at: 13, metrics: {} });
      expect((await sampleQueue(path, 8).peek(100)).map((s) => s.at)).toEqual([
        6, 7, 8, 9, 10, 11, 13,
      ]);
      await reopened.drop(100);
      expect(await reopened.size()).toBe(0);
      await expect(readFile(path)).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('carrying out hub commands', () => {
  const host: CommandHost = {
    release: () =>
      Promise.resolve({ app: 'sensor', services: new Set(['reader']), jobs: new Set(['upload']) }),
    deployNow: () => Promise.reject(new Error('git fetch failed')),
    runJob: () => Promise.resolve({ ok: false, message: 'upload: failed', output: ['boom'] }),
    restartService: () => Promise.resolve(),
    journal: () => Promise.resolve([]),
    reboot: () => Promise.resolve(),
  };

  it('answers bad arguments and failures instead of throwing', async () => {
    const answer = async (kind: string, args?: Record<string, unknown>) =>
      (await carryOut({ id: '1', kind, args }, host)).result;
    expect(await answer('deploy')).toEqual({ ok: false, message: 'git fetch failed' });
    expect(await answer('run-job', { job: 'upload' })).toEqual({
      ok: false,
      message: 'upload: failed',
      output: ['boom'],
    });
    expect(await answer('run-job', { job: '../../etc' })).toMatchObject({ ok: false });
    expect(await answer('restart-service', { service: 'upload' })).toEqual({
      ok: false,
      message: 'sensor has no service "upload" on this device (services: reader)',
    });
    expect(await answer('logs', { service: 'a b' })).toEqual({
      ok: false,
      message: 'not a service name',
    });
    expect(await answer('format-disk')).toEqual({
      ok: false,
      message: 'this agent does not know the command "format-disk"',
    });
    const reboot = await carryOut({ id: '2', kind: 'reboot' }, host);
    expect(reboot.result.ok).toBe(true);
    expect(reboot.after).toBeTypeOf('function');
  });
});

describe('the metrics address the hub lists for Prometheus', () => {
  const interfaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    wlan0: [
      { address: 'fe80::1', family: 'IPv6', internal: false },
      { address: '192.168.1.23', family: 'IPv4', internal: false },
    ],
  } as unknown as Parameters<typeof metricsAddress>[1];
  it('is none on loopback, the device address for a wildcard, else as configured', () => {
    expect(metricsAddress(undefined, interfaces)).toBeUndefined();
    expect(metricsAddress(false, interfaces)).toBeUndefined();
    expect(metricsAddress('127.0.0.1:9101', interfaces)).toBeUndefined();
    expect(metricsAddress('0.0.0.0:9101', interfaces)).toBe('192.168.1.23:9101');
    expect(metricsAddress('10.1.2.3:9200', interfaces)).toBe('10.1.2.3:9200');
    expect(metricsAddress('0.0.0.0:9101', {})).toBeUndefined();
  });
});
