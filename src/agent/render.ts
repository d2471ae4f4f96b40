import type { Fleet } from '../spec/fleet.js';
import type { PiotYaml } from '../spec/schema.js';
import {
  appPaths,
  renderJobService,
  renderJobTimer,
  renderService,
  unitName,
  type AppPaths,
} from './units.js';
import type { UnitFiles } from './plan.js';

/** Who this device is: its name and the tags `.piot/fleet.yaml` gives it. */
export interface DeviceIdentity {
  name: string;
  tags: string[];
}

/** The device's tags from the fleet file (none if it is not listed). */
export function deviceIdentity(name: string, fleet: Fleet | undefined): DeviceIdentity {
  return { name, tags: fleet?.devices[name]?.tags ?? [] };
}

/** True if a `devices:` list selects this device (no list: every device). */
export function selects(selectors: string[] | undefined, device: DeviceIdentity): boolean {
  if (!selectors || selectors.length === 0) return true;
  return selectors.some((s) =>
    s.startsWith('tag:') ? device.tags.includes(s.slice(4)) : s === device.name,
  );
}

/**
 * Every unit file this device should have for a release, by file name: services and
 * jobs not meant for this device are left out entirely. `once` jobs get a service (run
 * by the agent) but no timer; `release` is the commit whose directory `once: release` jobs
 * run in.
 */
export function desiredUnits(
  spec: PiotYaml,
  device: DeviceIdentity,
  root = '/',
  release?: string,
): UnitFiles {
  const paths: AppPaths = appPaths(spec.app, root);
  const units: UnitFiles = {};
  for (const [name, service] of Object.entries(spec.services ?? {})) {
    if (selects(service.devices, device))
      units[unitName(spec.app, name)] = renderService(spec, name, service, paths);
  }
  for (const [name, job] of Object.entries(spec.jobs ?? {})) {
    if (!selects(job.devices, device)) continue;
    units[unitName(spec.app, name)] = renderJobService(spec, name, job, paths, release);
    if (job.schedule) units[unitName(spec.app, name, 'timer')] = renderJobTimer(spec, name, job);
  }
  return units;
}
