import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Fleet } from '../spec/fleet.js';
import { formatProblem } from '../spec/problem.js';
import type { PiotYaml } from '../spec/schema.js';
import { validateFleet, validatePiotYaml } from '../spec/validate.js';

/** A release's configuration: its `.piot.yaml` and fleet file, validated. */
export type ReleaseConfig =
  { ok: true; spec: PiotYaml; fleet: Fleet | undefined } | { ok: false; problems: string[] };

/** Validates a release's two files (bytes as found in the commit; undefined = absent). */
export function releaseConfig(
  specBytes: Uint8Array | undefined,
  fleetBytes: Uint8Array | undefined,
): ReleaseConfig {
  const problems: string[] = [];
  let fleet: Fleet | undefined;
  if (fleetBytes) {
    const f = validateFleet(fleetBytes);
    if (f.ok) fleet = f.value;
    else problems.push(...f.problems.map(formatProblem));
  }
  if (!specBytes) return { ok: false, problems: ['.piot.yaml:1:1: missing in this commit'] };
  const spec = validatePiotYaml(specBytes, { fleet });
  if (!spec.ok) problems.push(...spec.problems.map(formatProblem));
  if (!spec.ok || problems.length > 0) return { ok: false, problems };
  return { ok: true, spec: spec.value, fleet };
}

const readIfThere = (path: string) =>
  readFile(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });

/** The configuration of a release already checked out on the device (for rollback). */
export async function releaseConfigOnDisk(dir: string): Promise<ReleaseConfig> {
  return releaseConfig(
    await readIfThere(join(dir, '.piot.yaml')),
    await readIfThere(join(dir, '.piot', 'fleet.yaml')),
  );
}
