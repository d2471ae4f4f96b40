import { describe, expect, it } from 'vitest';
import { naturalCompare } from './read.js';

describe('naturalCompare', () => {
  it('orders numbers in names by value, the rest by code unit', () => {
    const names = [
      'cpu10',
      'cpu2',
      'cpufreq',
      'cpu1',
      'hwmon0',
      'cpu02',
      'thermal_zone11',
      'thermal_zone3',
    ];
    expect([...names].sort(naturalCompare)).toEqual([
      'cpu1',
      'cpu02',
      'cpu2',
      'cpu10',
      'cpufreq',
      'hwmon0',
      'thermal_zone3',
      'thermal_zone11',
    ]);
    expect(naturalCompare('sda', 'sda')).toBe(0);
    expect(naturalCompare('sda', 'sda1')).toBeLessThan(0);
  });
});
