import { NAME_PATTERN } from './schema.js';
import type { Fleet } from './fleet.js';
import { didYouMean } from './suggest.js';

/** A problem found by a check that looks across keys: where, what, and how to fix it. */
export interface CrossProblem {
  path: (string | number)[];
  key?: boolean;
  message: string;
  hint?: string | undefined;
}

type Raw = Record<string, unknown>;
const isMap = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const entries = (v: unknown): [string, unknown][] => (isMap(v) ? Object.entries(v) : []);
const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((s) => typeof s === 'string') : [];
const NAME_RE = new RegExp(NAME_PATTERN);

/**
 * Checks that span several keys of `.piot.yaml` (names, references, exclusive keys).
 * Works on raw data so it reports alongside schema problems; skips what is malformed.
 */
export function crossCheck(data: unknown, fleet: Fleet | undefined): CrossProblem[] {
  if (!isMap(data)) return [];
  const problems: CrossProblem[] = [];
  const services = entries(data.services);
  const jobs = entries(data.jobs);
  const secrets = strings(data.secrets);
  const serviceNames = services.map(([name]) => name);

  for (const [section, list] of [
    ['services', services],
    ['jobs', jobs],
  ] as const) {
    for (const [name] of list) {
      if (!NAME_RE.test(name)) {
        problems.push({
          path: [section, name],
          key: true,
          message: `${section}.${name}: "${name}" cannot be used in a systemd unit name`,
          hint: 'use lowercase letters, digits, "-" and "_", at most 40 characters',
        });
      }
    }
  }
  for (const [name] of jobs) {
    if (serviceNames.includes(name)) {
      problems.push({
        path: ['jobs', name],
        key: true,
        message: `jobs.${name}: the name "${name}" is already a service`,
        hint: 'services and jobs share unit names (piot-<app>-<name>); rename one',
      });
    }
  }
  const seenSecrets = new Set<string>();
  strings(data.secrets).forEach((name, i) => {
    if (seenSecrets.has(name)) {
      problems.push({ path: ['secrets', i], message: `secrets: "${name}" is listed twice` });
    }
    seenSecrets.add(name);
  });

  for (const [name, job] of jobs) {
    if (!isMap(job)) continue;
    const hasSchedule = job.schedule !== undefined;
    const hasOnce = job.once !== undefined;
    if (hasSchedule && hasOnce) {
      problems.push({
        path: ['jobs', name, 'once'],
        key: true,
        message: `jobs.${name} has both "schedule" and "once"`,
        hint: 'a job is periodic (schedule) or one-off (once); split it into two jobs',
      });
    } else if (!hasSchedule && !hasOnce) {
      problems.push({
        path: ['jobs', name],
        key: true,
        message: `jobs.${name} needs "schedule" or "once"`,
        hint: 'schedule: "0 3 * * *" runs it daily at 03:00; once: release runs it on each new release',
      });
    }
  }

  for (const [section, list] of [
    ['services', services],
    ['jobs', jobs],
  ] as const) {
    for (const [name, body] of list) {
      if (!isMap(body)) continue;
      strings(body.secrets).forEach((secret, i) => {
        if (!secrets.includes(secret)) {
          problems.push({
            path: [section, name, 'secrets', i],
            message: `${section}.${name}.secrets: "${secret}" is not in the app's secrets`,
            hint: didYouMean(secret, secrets) ?? `add it to the top-level "secrets" list`,
          });
        }
      });
      checkSecretRefs(body.env, [section, name, 'env'], secrets, problems);
      checkSelectors(body.devices, [section, name, 'devices'], fleet, problems);
    }
  }
  checkSecretRefs(data.env, ['env'], secrets, problems);

  for (const [name, body] of services) {
    if (!isMap(body)) continue;
    strings(body.depends).forEach((dep, i) => {
      if (dep === name) {
        problems.push({
          path: ['services', name, 'depends', i],
          message: `services.${name} depends on itself`,
        });
      } else if (!serviceNames.includes(dep)) {
        problems.push({
          path: ['services', name, 'depends', i],
          message: `services.${name}.depends: no service "${dep}"`,
          hint: didYouMean(dep, serviceNames) ?? `services are: ${serviceNames.join(', ')}`,
        });
      }
    });
    if (
      isMap(body.health) &&
      (body.health.http === undefined) === (body.health.command === undefined)
    ) {
      problems.push({
        path: ['services', name, 'health'],
        key: true,
        message: `services.${name}.health needs exactly one of "http" and "command"`,
        hint: 'http: http://127.0.0.1:8080/health, or command: ./check.sh',
      });
    }
  }
  problems.push(...dependencyCycles(services));

  const network = isMap(data.network) ? data.network : {};
  (Array.isArray(network.wifi) ? network.wifi : []).forEach((wifi: unknown, i: number) => {
    if (!isMap(wifi) || typeof wifi.psk !== 'string') return;
    const path = ['network', 'wifi', i, 'psk'];
    if (wifi.psk.startsWith('secret:')) {
      checkSecretRefs({ psk: wifi.psk }, path.slice(0, -1), secrets, problems);
    } else if (wifi.psk.length < 8 || wifi.psk.length > 63) {
      problems.push({
        path,
        message: `network.wifi[${i}].psk must be 8 to 63 characters (it has ${wifi.psk.length})`,
        hint: 'WPA passphrases are 8-63 characters; store it with `piot secrets set` and write secret:NAME',
      });
    }
  });
  return problems;
}

function checkSecretRefs(
  env: unknown,
  path: (string | number)[],
  secrets: string[],
  out: CrossProblem[],
): void {
  for (const [key, value] of entries(env)) {
    if (typeof value !== 'string' || !value.startsWith('secret:')) continue;
    const name = value.slice('secret:'.length);
    if (!secrets.includes(name)) {
      out.push({
        path: [...path, key],
        message: `${path.join('.').replace(/\.(\d+)/g, '[$1]')}.${key}: secret "${name}" is not listed in "secrets"`,
        hint:
          didYouMean(name, secrets) ??
          `add ${name} to the top-level "secrets" list and set it with \`piot secrets set ${name}\``,
      });
    }
  }
}

function checkSelectors(
  devices: unknown,
  path: (string | number)[],
  fleet: Fleet | undefined,
  out: CrossProblem[],
): void {
  if (!fleet) return;
  const names = Object.keys(fleet.devices);
  const tags = [...new Set(Object.values(fleet.devices).flatMap((d) => d.tags ?? []))];
  strings(devices).forEach((selector, i) => {
    if (selector.startsWith('tag:')) {
      const tag = selector.slice(4);
      if (!tags.includes(tag)) {
        out.push({
          path: [...path, i],
          message: `${path.join('.')}: no device in .piot/fleet.yaml has tag "${tag}"`,
          hint:
            didYouMean(tag, tags) ??
            (tags.length ? `tags are: ${tags.join(', ')}` : 'no device has tags yet'),
        });
      }
    } else if (!names.includes(selector)) {
      out.push({
        path: [...path, i],
        message: `${path.join('.')}: no device "${selector}" in .piot/fleet.yaml`,
        hint: didYouMean(selector, names) ?? 'add it with `piot image configure --device NAME`',
      });
    }
  });
}

function dependencyCycles(services: [string, unknown][]): CrossProblem[] {
  const deps = new Map(
    services.map(([name, body]) => [name, isMap(body) ? strings(body.depends) : []]),
  );
  const state = new Map<string, 'visiting' | 'done'>();
  const problems: CrossProblem[] = [];
  const visit = (name: string, trail: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      problems.push({
        path: ['services', name, 'depends'],
        key: true,
        message: `services depend on each other in a circle: ${cycle.join(' → ')}`,
        hint: 'remove one of these depends',
      });
      return;
    }
    state.set(name, 'visiting');
    for (const dep of deps.get(name) ?? [])
      if (deps.has(dep) && dep !== name) visit(dep, [...trail, name]);
    state.set(name, 'done');
  };
  for (const name of deps.keys()) visit(name, []);
  return problems;
}
