import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cpu } from './cpu.js';
import { load } from './load.js';
import { memory } from './memory.js';
import { fixtureContext, familyNames, NOW, valueOf } from './test-context.js';
import { thermal } from './thermal.js';
import { parseThrottled, throttling } from './throttling.js';
import { uptime } from './uptime.js';

const pi4 = fixtureContext('pi4');
const vm = fixtureContext('vm');

describe('thermal', () => {
  it("reads the Pi 4's SoC temperature in degrees Celsius", async () => {
    expect(await thermal.collect(pi4)).toEqual([
      {
        name: 'node_thermal_zone_temp',
        help: 'Zone temperature in Celsius',
        type: 'gauge',
        value: 48.686,
        labels: { type: 'cpu-thermal', zone: '0' },
      },
    ]);
  });

  it('reports nothing in a VM without thermal zones', async () => {
    expect(await thermal.collect(vm)).toEqual([]);
  });
});

describe('throttling', () => {
  it('splits get_throttled 50005 into its eight flags and reads the rpi_volt alarm', async () => {
    const samples = await throttling.collect(pi4);
    expect(valueOf(samples, 'piot_rpi_throttled_raw')).toBe(0x50005);
    expect(valueOf(samples, 'piot_rpi_under_voltage_now')).toBe(1);
    expect(valueOf(samples, 'piot_rpi_arm_freq_capped_now')).toBe(0);
    expect(valueOf(samples, 'piot_rpi_throttled_now')).toBe(1);
    expect(valueOf(samples, 'piot_rpi_soft_temp_limit_now')).toBe(0);
    expect(valueOf(samples, 'piot_rpi_under_voltage_occurred')).toBe(1);
    expect(valueOf(samples, 'piot_rpi_arm_freq_capped_occurred')).toBe(0);
    expect(valueOf(samples, 'piot_rpi_throttled_occurred')).toBe(1);
    expect(valueOf(samples, 'piot_rpi_soft_temp_limit_occurred')).toBe(0);
    // hwmon0 is cpu_thermal on a Pi 4: the alarm is found by name, not by number.
    expect(valueOf(samples, 'piot_rpi_under_voltage_alarm')).toBe(1);
    expect(samples).toHaveLength(10);
  });

  it('reports nothing without the Pi firmware', async () => {
    expect(await throttling.collect(vm)).toEqual([]);
  });

  it('reads hex with or without 0x and rejects anything else', () => {
    expect(parseThrottled('50005\n')).toBe(327685);
    expect(parseThrottled('0x80008')).toBe(0x80008);
    expect(parseThrottled('0\n')).toBe(0);
    expect(() => parseThrottled('throttled=0x0')).toThrow(/unexpected get_throttled/);
  });

  describe('on a Pi 5', () => {
    let dir = '';
    afterEach(() => rm(dir, { recursive: true, force: true }));

    it('finds get_throttled under the soc@ bus', async () => {
      dir = await mkdtemp(join(tmpdir(), 'piot-pi5-'));
      const firmware = join(dir, 'sys/devices/platform/soc@107c000000/soc@107c000000:firmware');
      await mkdir(firmware, { recursive: true });
      await writeFile(join(firmware, 'get_throttled'), '80000\n');
      const samples = await throttling.collect(fixtureContext('vm', { sys: join(dir, 'sys') }));
      expect(valueOf(samples, 'piot_rpi_soft_temp_limit_occurred')).toBe(1);
      expect(valueOf(samples, 'piot_rpi_under_voltage_now')).toBe(0);
    });
  });
});

describe('cpu', () => {
  it('gives seconds per CPU and mode from USER_HZ ticks, and the cpufreq frequencies', async () => {
    const samples = await cpu.collect(pi4);
    const seconds = samples.filter((s) => s.name === 'node_cpu_seconds_total');
    expect(seconds).toHaveLength(4 * 8);
    expect(valueOf(samples, 'node_cpu_seconds_total', { cpu: '0', mode: 'user' })).toBe(264.51);
    expect(valueOf(samples, 'node_cpu_seconds_total', { cpu: '3', mode: 'idle' })).toBe(3410.91);
    expect(valueOf(samples, 'node_cpu_seconds_total', { cpu: '0', mode: 'softirq' })).toBe(11.86);
    expect(valueOf(samples, 'node_cpu_guest_seconds_total', { cpu: '2', mode: 'nice' })).toBe(0);
    expect(valueOf(samples, 'node_cpu_scaling_frequency_hertz', { cpu: '0' })).toBe(600_000_000);
    expect(valueOf(samples, 'node_cpu_scaling_frequency_max_hertz', { cpu: '3' })).toBe(
      1_500_000_000,
    );
    expect(valueOf(samples, 'node_cpu_scaling_frequency_min_hertz', { cpu: '1' })).toBe(
      600_000_000,
    );
    expect(valueOf(samples, 'node_context_switches_total')).toBe(8123551);
    expect(valueOf(samples, 'node_intr_total')).toBe(4687474);
    expect(valueOf(samples, 'node_forks_total')).toBe(52341);
    expect(valueOf(samples, 'node_procs_running')).toBe(2);
    expect(
      samples.find((s) => s.name.startsWith('node_cpu') && s.labels?.cpu === ''),
    ).toBeUndefined();
  });

  it('has no frequencies in a VM without cpufreq', async () => {
    const samples = await cpu.collect(vm);
    expect(familyNames(samples).filter((n) => n.includes('frequency'))).toEqual([]);
    expect(valueOf(samples, 'node_cpu_seconds_total', { cpu: '1', mode: 'steal' })).toBe(0.09);
  });
});

describe('load, memory, uptime', () => {
  it('reads the load averages', async () => {
    const samples = await load.collect(pi4);
    expect([1, 5, 15].map((n) => valueOf(samples, `node_load${n}`))).toEqual([0.08, 0.12, 0.09]);
  });

  it('gives every meminfo field in bytes under node_exporter names', async () => {
    const samples = await memory.collect(pi4);
    expect(valueOf(samples, 'node_memory_MemTotal_bytes')).toBe(3880692 * 1024);
    expect(valueOf(samples, 'node_memory_MemAvailable_bytes')).toBe(3437260 * 1024);
    expect(valueOf(samples, 'node_memory_Active_anon_bytes')).toBe(184432 * 1024);
    expect(valueOf(samples, 'node_memory_SwapTotal_bytes')).toBe(102396 * 1024);
    expect(valueOf(samples, 'node_memory_SwapFree_bytes')).toBe(102396 * 1024);
    expect(samples).toHaveLength(41);
  });

  it('keeps counts without a unit as they are (HugePages_Total on amd64)', async () => {
    const samples = await memory.collect(vm);
    expect(valueOf(samples, 'node_memory_HugePages_Total')).toBe(0);
    expect(valueOf(samples, 'node_memory_Hugepagesize_bytes')).toBe(2048 * 1024);
    expect(valueOf(samples, 'node_memory_SwapTotal_bytes')).toBe(0);
  });

  it('reads boot time, uptime and the clock', async () => {
    const samples = await uptime.collect(pi4);
    expect(valueOf(samples, 'node_boot_time_seconds')).toBe(1733909532);
    expect(valueOf(samples, 'piot_uptime_seconds')).toBe(3478.52);
    expect(valueOf(samples, 'node_time_seconds')).toBe(NOW / 1000);
  });
});
