import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isMap, parseDocument } from 'yaml';
import { UserError } from '../errors.js';
import { exists } from '../sys/fs.js';
import { validateFleet } from '../spec/validate.js';

/** The application repository around dir: the nearest directory up holding .piot.yaml. */
export async function findAppRepo(dir: string): Promise<string | undefined> {
  for (let d = dir; ; d = dirname(d)) {
    if (await exists(join(d, '.piot.yaml'))) return d;
    if (dirname(d) === d) return undefined;
  }
}

/** What changed in .piot/fleet.yaml. */
export type FleetChange = 'added' | 'updated' | 'unchanged';

/**
 * Records a device, its tags and public keys in `.piot/fleet.yaml` of the repository,
 * keeping the file's comments and other devices as they are.
 */
export async function recordDevice(
  repo: string,
  device: { name: string; tags: string[]; age: string; signing: string },
): Promise<FleetChange> {
  const path = join(repo, '.piot', 'fleet.yaml');
  const text = (await exists(path)) ? await readFile(path, 'utf8') : 'version: 1\ndevices: {}\n';
  const checked = validateFleet(Buffer.from(text), { file: path });
  if (!checked.ok) {
    throw new UserError(`${path} is invalid, so the device was not recorded`, {
      hint: 'run `piot validate` and fix it, then configure again',
    });
  }
  const doc = parseDocument(text);
  if (!isMap(doc.get('devices'))) doc.set('devices', doc.createNode({}));
  const before = checked.value.devices[device.name];
  const entry: Record<string, unknown> = {};
  if (device.tags.length > 0) entry.tags = device.tags;
  entry.age = device.age;
  entry.signing = device.signing;
  if (before && JSON.stringify(before) === JSON.stringify(entry)) return 'unchanged';
  const node = doc.createNode(entry);
  if (device.tags.length > 0) {
    const tags = node.get('tags', true) as { flow?: boolean } | undefined;
    if (tags) tags.flow = true;
  }
  doc.setIn(['devices', device.name], node);
  const devices = doc.get('devices') as { flow?: boolean };
  devices.flow = false;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, doc.toString({ lineWidth: 0 }));
  return before ? 'updated' : 'added';
}
