import { chmod, mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { formatProblem } from '../spec/problem.js';
import type { JobSpec, PiotYaml, ServiceSpec } from '../spec/schema.js';
import { secretFilePath, type SecretFile } from '../spec/secret-file.js';
import { validateSecretFile } from '../spec/validate.js';
import { writeFileAtomic } from '../sys/fs.js';

/** The device's age identity (written by first boot, root-only). */
export const AGE_KEY_FILE = '/etc/piot/identity/age.key';

/** Why a release's secrets cannot be given to its services; names the secret, never a value. */
export class SecretError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

/**
 * The environment a service or job gets from secrets, as variable → secret name: every
 * secret it receives (its `secrets:`, else all of the app's) under its own name, and each
 * `env` value `secret:NAME` of a secret it receives under that variable.
 */
export function secretEnv(spec: PiotYaml, body: ServiceSpec | JobSpec): Map<string, string> {
  const vars = new Map<string, string>();
  const receives = body.secrets ?? spec.secrets ?? [];
  for (const name of receives) vars.set(name, name);
  for (const map of [spec.env, body.env]) {
    for (const [key, value] of Object.entries(map ?? {})) {
      const secret =
        typeof value === 'string' && value.startsWith('secret:')
          ? value.slice('secret:'.length)
          : undefined;
      // Only secrets it receives: `secrets: []` keeps an app-wide secret: env value out.
      if (secret && receives.includes(secret)) vars.set(key, secret);
      else vars.delete(key);
    }
  }
  return vars;
}

/** The services and jobs of a spec by name, for looking one up by its unit's name. */
function bodies(spec: PiotYaml): Map<string, ServiceSpec | JobSpec> {
  return new Map<string, ServiceSpec | JobSpec>([
    ...Object.entries(spec.services ?? {}),
    ...Object.entries(spec.jobs ?? {}),
  ]);
}

/** The secret names a release needs for the given service and job names. */
export function neededSecrets(spec: PiotYaml, names: string[]): string[] {
  const all = bodies(spec);
  const needed = new Set<string>();
  for (const name of names) {
    const body = all.get(name);
    if (body) for (const secret of secretEnv(spec, body).values()) needed.add(secret);
  }
  return [...needed].sort();
}

/** Quotes a value for a systemd EnvironmentFile: inside "", \ " ` $ are escaped. */
function envFileValue(value: string): string {
  return `"${value.replace(/[\\"`$]/g, (c) => `\\${c}`)}"`;
}

/**
 * The EnvironmentFile text a service or job gets (sorted, same input → same bytes), or
 * undefined when it receives no secrets.
 */
export function renderSecretEnv(
  spec: PiotYaml,
  name: string,
  values: ReadonlyMap<string, string>,
): string | undefined {
  const body = bodies(spec).get(name);
  if (!body) return undefined;
  const vars = secretEnv(spec, body);
  if (vars.size === 0) return undefined;
  const lines = [...vars.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([variable, secret]) => `${variable}=${envFileValue(values.get(secret) ?? '')}`);
  return `${lines.join('\n')}\n`;
}

/** Reads and checks `.piot/secrets/NAME.yaml` in a release directory. */
async function readSecretFile(releaseDir: string, name: string): Promise<SecretFile> {
  const path = secretFilePath(name);
  const bytes = await readFile(join(releaseDir, path)).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!bytes) {
    throw new SecretError(
      `secret ${name}: ${path} is not in this release (set it with \`piot secrets set ${name}\` and commit it)`,
    );
  }
  const checked = validateSecretFile(bytes, { file: path });
  if (!checked.ok)
    throw new SecretError(`secret ${name}: ${checked.problems.map(formatProblem).join('; ')}`);
  return checked.value;
}

/**
 * Decrypts the named secrets of a release with this device's age identity. A secret not
 * encrypted for this device, missing or unreadable is a SecretError naming it.
 */
export async function decryptSecrets(
  releaseDir: string,
  names: string[],
  device: { name: string; ageKey: string },
): Promise<Map<string, string>> {
  const values = new Map<string, string>();
  for (const name of names) {
    const file = await readSecretFile(releaseDir, name);
    if (!file.recipients.devices[device.name]) {
      const selection = file.devices?.join(', ') ?? 'every device';
      throw new SecretError(
        `secret ${name} is not encrypted for device ${device.name} (it was set for ${selection}); ` +
          `run \`piot secrets rekey ${name}\` or \`piot secrets set ${name} --devices …\` and commit`,
      );
    }
    // Loaded on first use: age and its curves cost the agent about 7 MiB of memory, and
    // most apps have no secrets.
    const { armor, Decrypter } = await import('age-encryption');
    const decrypter = new Decrypter();
    decrypter.addIdentity(device.ageKey);
    let value: string;
    try {
      value = await decrypter.decrypt(armor.decode(file.value), 'text');
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new SecretError(
        `secret ${name} cannot be decrypted with this device's key (${why}); ` +
          `the key in .piot/fleet.yaml may be stale: run \`piot secrets rekey ${name}\``,
      );
    }
    if (value.includes('\0')) throw new SecretError(`secret ${name} holds a NUL byte`);
    values.set(name, value);
  }
  return values;
}

/** This device's age identity, or a SecretError saying where it should be. */
export async function readAgeKey(path = AGE_KEY_FILE): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  const key = text
    ?.split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('AGE-SECRET-KEY-1'));
  if (!key) {
    throw new SecretError(
      `this device has no age key at ${path}, so it cannot decrypt secrets ` +
        '(piot image configure makes one)',
    );
  }
  return key;
}

/**
 * The secrets' EnvironmentFile text of every service and job a release runs on this device
 * (those in `names`), by name; reads the device key only when a secret is needed.
 */
export async function releaseSecretEnvs(
  spec: PiotYaml,
  names: string[],
  releaseDir: string,
  device: { name: string; ageKeyFile: string },
): Promise<Map<string, string>> {
  const needed = neededSecrets(spec, names);
  const envs = new Map<string, string>();
  if (needed.length === 0) return envs;
  const ageKey = await readAgeKey(device.ageKeyFile);
  const values = await decryptSecrets(releaseDir, needed, { name: device.name, ageKey });
  for (const name of names) {
    const text = renderSecretEnv(spec, name, values);
    if (text !== undefined) envs.set(name, text);
  }
  return envs;
}

/**
 * The names whose secrets differ from what their running process got: the env file in
 * secretsDir (written at its last start) is absent or has other content.
 */
export async function changedSecretEnvs(
  envs: ReadonlyMap<string, string>,
  secretsDir: string,
): Promise<string[]> {
  const changed: string[] = [];
  for (const [name, text] of envs) {
    const now = await readFile(join(secretsDir, `${name}.env`), 'utf8').catch(() => undefined);
    if (now !== text) changed.push(name);
  }
  return changed.sort();
}

/**
 * Writes the secrets env file of one service or job from a release directory, root-only
 * (0400 in a 0700 directory on tmpfs): run by the unit's ExecStartPre= before each start.
 * A service with no secrets gets its stale file removed.
 */
export async function writeSecretEnv(
  release: { dir: string; spec: PiotYaml; name: string },
  device: { name: string; ageKeyFile: string },
  secretsDir: string,
): Promise<void> {
  const envs = await releaseSecretEnvs(release.spec, [release.name], release.dir, device);
  const path = join(secretsDir, `${release.name}.env`);
  const text = envs.get(release.name);
  await mkdir(secretsDir, { recursive: true, mode: 0o700 });
  await chmod(secretsDir, 0o700);
  if (text === undefined) await rm(path, { force: true });
  else await writeFileAtomic(path, text, { mode: 0o400 });
}

/** Removes the env files in secretsDir of every service and job not in keep. */
export async function pruneSecretEnvs(secretsDir: string, keep: string[]): Promise<void> {
  for (const file of await readdir(secretsDir).catch(() => [] as string[])) {
    if (file.endsWith('.env') && !keep.includes(file.slice(0, -4)))
      await rm(join(secretsDir, file), { force: true });
  }
}
