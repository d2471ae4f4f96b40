import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createUnitHealth,
  parseFailedUnits,
  parseSystemctlShow,
  unitPattern,
} from './host-health.js';

// `systemctl show --property=Id,ActiveState,SubState,NRestarts,MemoryCurrent,CPUUsageNSec 'piot-*.service'`
const SHOW = `Id=piot-weather-station-sensor.service
ActiveState=activating
SubState=auto-restart
NRestarts=4
MemoryCurrent=[not set]
CPUUsageNSec=[not set]

Id=piot-agent.service
ActiveState=active
SubState=running
NRestarts=0
MemoryCurrent=38793216
CPUUsageNSec=8121774000

Id=piot-weather-station-backup.service
ActiveState=inactive
SubState=dead
NRestarts=0
MemoryCurrent=18446744073709551615
CPUUsageNSec=18446744073709551615
`;

describe('parseSystemctlShow', () => {
  it('reads each unit, sorted, with unset accounting values left out', () => {
    expect(parseSystemctlShow(SHOW)).toEqual([
      {
        unit: 'piot-agent.service',
        activeState: 'active',
        subState: 'running',
        restarts: 0,
        memoryBytes: 38793216,
        cpuSeconds: 8.121774,
      },
      {
        unit: 'piot-weather-station-backup.service',
        activeState: 'inactive',
        subState: 'dead',
        restarts: 0,
        memoryBytes: undefined,
        cpuSeconds: undefined,
      },
      {
        unit: 'piot-weather-station-sensor.service',
        activeState: 'activating',
        subState: 'auto-restart',
        restarts: 4,
        memoryBytes: undefined,
        cpuSeconds: undefined,
      },
    ]);
  });

  it('gives nothing for no matching units', () => {
    expect(parseSystemctlShow('')).toEqual([]);
  });
});

describe('parseFailedUnits', () => {
  it('reads unit names with or without the status bullet', () => {
    const plain =
      'piot-weather-station-sensor.service loaded failed failed PioT weather-station sensor\n' +
      'rpi-eeprom-update.service           loaded failed failed Check for Raspberry Pi EEPROM updates\n';
    expect(parseFailedUnits(plain)).toEqual([
      'piot-weather-station-sensor.service',
      'rpi-eeprom-update.service',
    ]);
    expect(parseFailedUnits('● dhcpcd.service loaded failed failed DHCP Client Daemon\n')).toEqual([
      'dhcpcd.service',
    ]);
    expect(parseFailedUnits('')).toEqual([]);
  });
});

describe('unitPattern', () => {
  it('matches as systemctl does', () => {
    expect(unitPattern('piot-*.service').test('piot-app-web.service')).toBe(true);
    expect(unitPattern('piot-*.service').test('piot-app-web.timer')).toBe(false);
    expect(unitPattern('piot-*.service').test('xpiot-a.service')).toBe(false);
    expect(unitPattern('a?c.[!x]ervice').test('abc.service')).toBe(true);
    expect(unitPattern('a?c.[!s]ervice').test('abc.service')).toBe(false);
  });
});

describe('createUnitHealth', () => {
  let dir = '';
  afterEach(() => rm(dir, { recursive: true, force: true }));

  /** A machine's /run and cgroup tree with one running service, and a systemctl that counts. */
  async function machine() {
    dir = await mkdtemp(join(tmpdir(), 'piot-units-'));
    const run = join(dir, 'run');
    const cgroup = join(dir, 'cgroup');
    const unitDir = join(cgroup, 'system.slice/piot-app-web.service');
    await mkdir(join(run, 'systemd/system'), { recursive: true });
    await mkdir(join(run, 'systemd/units'), { recursive: true });
    await mkdir(unitDir, { recursive: true });
    const invocation = join(run, 'systemd/units/invocation:piot-app-web.service');
    const start = async (id: string) => {
      await rm(invocation, { force: true });
      await symlink(id, invocation);
    };
    await start('0b1f');
    await symlink('77aa', join(run, 'systemd/units/invocation:ssh.service'));
    await writeFile(join(unitDir, 'cgroup.events'), 'populated 1\nfrozen 0\n');
    await writeFile(join(unitDir, 'memory.current'), '1000\n');
    await writeFile(join(unitDir, 'cpu.stat'), 'usage_usec 2000000\nuser_usec 1\n');
    const asked: string[][] = [];
    let clock = 0;
    const restarts = { n: 0 };
    const units = createUnitHealth({
      runDir: run,
      cgroupRoot: cgroup,
      now: () => clock,
      systemctl: (args) => {
        asked.push(args);
        return Promise.resolve(
          `Id=piot-app-web.service\nActiveState=active\nSubState=running\nNRestarts=${restarts.n}\n` +
            `MemoryCurrent=1000\nCPUUsageNSec=2000000000\nControlGroup=/system.slice/piot-app-web.service\n`,
        );
      },
    });
    return {
      units,
      asked,
      unitDir,
      start,
      restarts,
      run,
      tick: (ms: number) => (clock += ms),
      services: () => units.services('piot-*.service'),
    };
  }

  it('asks systemctl again only when a unit starts, stops or 2 minutes passed', async () => {
    const m = await machine();
    expect((await m.services())?.[0]).toMatchObject({ unit: 'piot-app-web.service', restarts: 0 });
    await m.services();
    const calls = m.asked.length;
    expect(calls).toBeLessThanOrEqual(2);
    expect(m.asked[0]).toEqual([
      'show',
      '--property=Id,ActiveState,SubState,NRestarts,MemoryCurrent,CPUUsageNSec,ControlGroup',
      '--',
      'piot-*.service',
    ]);

    // Nothing changed: the kept answer, with memory and CPU read from the cgroup.
    await writeFile(join(m.unitDir, 'memory.current'), '5000\n');
    await writeFile(join(m.unitDir, 'cpu.stat'), 'usage_usec 3500000\n');
    m.tick(60_000);
    expect((await m.services())?.[0]).toMatchObject({ memoryBytes: 5000, cpuSeconds: 3.5 });
    expect(m.asked).toHaveLength(calls);

    // Another unit starting does not matter; this one restarting does.
    await rm(join(m.run, 'systemd/units/invocation:ssh.service'));
    await m.services();
    expect(m.asked).toHaveLength(calls);
    m.restarts.n = 1;
    await m.start('9c3e');
    expect((await m.services())?.[0]).toMatchObject({ restarts: 1 });
    expect(m.asked).toHaveLength(calls + 1);

    // Its processes ending (killed, exited) shows in the cgroup.
    await writeFile(join(m.unitDir, 'cgroup.events'), 'populated 0\nfrozen 0\n');
    await m.services();
    expect(m.asked).toHaveLength(calls + 2);
    await m.services();
    expect(m.asked).toHaveLength(calls + 2);

    m.tick(120_000);
    await m.services();
    expect(m.asked).toHaveLength(calls + 3);
  });

  it('asks every time where systemd keeps no invocations', async () => {
    const m = await machine();
    await rm(join(m.run, 'systemd/units'), { recursive: true });
    await m.services();
    await m.services();
    await m.services();
    expect(m.asked).toHaveLength(3);
  });

  it('answers undefined without systemd', async () => {
    const m = await machine();
    await rm(join(m.run, 'systemd/system'), { recursive: true });
    expect(await m.services()).toBeUndefined();
    expect(await m.units.failedUnits()).toBeUndefined();
    expect(m.asked).toHaveLength(0);
  });
});
