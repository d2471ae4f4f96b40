import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateFleet, validatePiotYaml } from '../spec/validate.js';
import { desiredUnits, deviceIdentity, selects } from './render.js';

const root = join(import.meta.dirname, '..', '..');
const example = (path: string) => readFileSync(join(root, 'examples', path));

describe('device targeting', () => {
  const spec = validatePiotYaml(example('distributed/.piot.yaml'));
  const fleet = validateFleet(example('distributed/.piot/fleet.yaml'));
  if (!spec.ok || !fleet.ok) throw new Error('examples must be valid');

  it('gives the collector and the producers different units from one repository', () => {
    expect(
      Object.keys(desiredUnits(spec.value, deviceIdentity('hub-pi', fleet.value))).sort(),
    ).toEqual([
      'piot-mesh-collector.service',
      'piot-mesh-compact.service',
      'piot-mesh-compact.timer',
    ]);
    expect(Object.keys(desiredUnits(spec.value, deviceIdentity('field-1', fleet.value)))).toEqual([
      'piot-mesh-producer.service',
    ]);
  });

  it('installs nothing selected for others on a device the fleet does not list', () => {
    expect(desiredUnits(spec.value, deviceIdentity('stranger', fleet.value))).toEqual({});
  });

  it('matches names and tags', () => {
    const device = { name: 'kitchen', tags: ['sensors'] };
    expect(selects(undefined, device)).toBe(true);
    expect(selects(['kitchen'], device)).toBe(true);
    expect(selects(['tag:sensors'], device)).toBe(true);
    expect(selects(['garage', 'tag:cameras'], device)).toBe(false);
  });

  it('renders once-jobs without timers and is deterministic', () => {
    const s = validatePiotYaml(
      new TextEncoder().encode('version: 1\napp: a\njobs:\n  m: {run: x, once: release}\n'),
    );
    if (!s.ok) throw new Error('invalid');
    const units = desiredUnits(s.value, { name: 'd', tags: [] });
    expect(Object.keys(units)).toEqual(['piot-a-m.service']);
    expect(desiredUnits(s.value, { name: 'd', tags: [] })).toEqual(units);
  });
});
