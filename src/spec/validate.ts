import type { z } from 'zod';
import { crossCheck } from './check.js';
import { deviceFileSchema, type DeviceFile } from './device.js';
import { fleetSchema, type Fleet } from './fleet.js';
import { provisionSchema, type ProvisionFile } from './provision.js';
import { secretFileSchema, type SecretFile } from './secret-file.js';
import { piotYamlJsonSchema, type JsonSchema } from './json-schema.js';
import { issueToProblems } from './issues.js';
import { sortProblems, type Problem } from './problem.js';
import { piotYamlSchema, type PiotYaml } from './schema.js';
import { positionOf, readYaml, type YamlSource } from './yaml-source.js';

/** The outcome of validating one file: the value when it is valid, else every problem. */
export type Validated<T> =
  { ok: true; value: T; problems: [] } | { ok: false; problems: Problem[] };

function validateYaml<S extends z.ZodType>(
  bytes: Uint8Array,
  file: string,
  schema: S,
  jsonSchema: JsonSchema,
  more: (source: YamlSource) => Problem[],
): Validated<z.output<S>> {
  const read = readYaml(bytes, file);
  if (!read.source) return { ok: false, problems: read.problems };
  const source = read.source;
  const { data } = source;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    const what = Array.isArray(data) ? 'a list' : `a single value (${JSON.stringify(data)})`;
    return {
      ok: false,
      problems: [
        {
          file,
          ...positionOf(source, []),
          message: `the file holds ${what}, not a mapping of keys`,
          hint: 'start with `version: 1`',
        },
      ],
    };
  }
  const parsed = schema.safeParse(data, { reportInput: true });
  const problems = parsed.success
    ? []
    : parsed.error.issues.flatMap((i) => issueToProblems(i, source, jsonSchema));
  problems.push(...more(source));
  if (problems.length > 0 || !parsed.success)
    return { ok: false, problems: dedupe(sortProblems(problems)) };
  return { ok: true, value: parsed.data, problems: [] };
}

function dedupe(problems: Problem[]): Problem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.line}:${p.column}:${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

let cachedJsonSchema: JsonSchema | undefined;

/** Validates the bytes of a `.piot.yaml`; with a fleet, device selectors are checked too. */
export function validatePiotYaml(
  bytes: Uint8Array,
  options: { file?: string; fleet?: Fleet } = {},
): Validated<PiotYaml> {
  cachedJsonSchema ??= piotYamlJsonSchema();
  const file = options.file ?? '.piot.yaml';
  return validateYaml(bytes, file, piotYamlSchema, cachedJsonSchema, (source) =>
    crossCheck(source.data, options.fleet).map((p) => ({
      file,
      ...positionOf(source, p.path, { key: p.key ?? false }),
      message: p.message,
      hint: p.hint,
    })),
  );
}

/** Validates the bytes of a `.piot/fleet.yaml`. */
export function validateFleet(
  bytes: Uint8Array,
  options: { file?: string } = {},
): Validated<Fleet> {
  return validateYaml(bytes, options.file ?? '.piot/fleet.yaml', fleetSchema, {}, () => []);
}

/** Validates `/etc/piot/device.yaml`; a device that both follows a branch and tags is an error. */
export function validateDeviceFile(
  bytes: Uint8Array,
  options: { file?: string } = {},
): Validated<DeviceFile> {
  const file = options.file ?? '/etc/piot/device.yaml';
  return validateYaml(bytes, file, deviceFileSchema, {}, (source) => {
    const data = source.data as Record<string, unknown> | null;
    if (data && typeof data === 'object' && 'branch' in data && 'tags' in data) {
      return [
        {
          file,
          ...positionOf(source, ['tags']),
          message: 'give either branch or tags, not both',
          hint: 'tags: "v*" follows release tags; branch: main follows a branch',
        },
      ];
    }
    return [];
  });
}

/** Validates a provisioning file (`piot image configure --from`). */
export function validateProvisionFile(
  bytes: Uint8Array,
  options: { file: string },
): Validated<ProvisionFile> {
  return validateYaml(bytes, options.file, provisionSchema, {}, () => []);
}

/** Validates an encrypted secret file (`.piot/secrets/NAME.yaml`). */
export function validateSecretFile(
  bytes: Uint8Array,
  options: { file: string },
): Validated<SecretFile> {
  return validateYaml(bytes, options.file, secretFileSchema, {}, () => []);
}
