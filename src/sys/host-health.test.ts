import { describe, expect, it } from 'vitest';
import { parseFailedUnits, parseSystemctlShow } from './host-health.js';

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
