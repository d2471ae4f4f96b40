import { Encrypter } from 'age-encryption';
import { deviceIdentity, selects } from '../agent/render.js';
import type { Fleet } from '../spec/fleet.js';
import { SELECTOR_PATTERN } from '../spec/schema.js';
import { closest } from '../spec/suggest.js';
import { UserError } from '../errors.js';

/** The public keys a secret is (or should be) encrypted to, by device and operator name. */
export interface Recipients {
  devices: Record<string, string>;
  operators: Record<string, string>;
}

/** Something the user has to fix, with what to do about it. */
export interface SecretProblem {
  message: string;
  hint?: string | undefined;
}

/** What the current fleet makes of a secret's selectors. */
export interface Selection {
  /** Every selected device that has a key, and every operator. */
  recipients: Recipients;
  /** Selectors that match nothing, selected devices without a key, an empty selection. */
  problems: SecretProblem[];
}

/** The names that joined, left, or changed key between two recipient maps. */
export interface RecipientChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

const SELECTOR = new RegExp(SELECTOR_PATTERN);

/** The selectors of a `--devices` value: comma-separated, trimmed, without repeats. */
export function parseSelectors(text: string): string[] {
  return [
    ...new Set(
      text
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
}

function fleetTags(fleet: Fleet): string[] {
  return [...new Set(Object.values(fleet.devices).flatMap((d) => d.tags ?? []))].sort();
}

function knownHint(selector: string, fleet: Fleet): string {
  const names = Object.keys(fleet.devices).sort();
  const tags = fleetTags(fleet);
  const match = closest(selector, [...names, ...tags.map((t) => `tag:${t}`)]);
  const known = `devices: ${names.join(', ') || 'none'}; tags: ${tags.join(', ') || 'none'}`;
  return match ? `did you mean "${match}"? (${known})` : known;
}

/**
 * Which devices of the fleet the selectors pick (none given: every device) and their keys,
 * plus every operator. Selectors that match no device, and selected devices with no key,
 * are problems; the recipients then hold the rest.
 */
export function selectRecipients(selectors: string[] | undefined, fleet: Fleet): Selection {
  const problems: SecretProblem[] = [];
  const names = Object.keys(fleet.devices).sort();
  for (const selector of selectors ?? []) {
    if (!SELECTOR.test(selector)) {
      problems.push({
        message: `"${selector}" is not a device selector (a device name or tag:NAME)`,
        hint: knownHint(selector, fleet),
      });
    } else if (!names.some((name) => selects([selector], deviceIdentity(name, fleet)))) {
      problems.push({
        message: `"${selector}" matches no device in .piot/fleet.yaml`,
        hint: knownHint(selector, fleet),
      });
    }
  }
  const selected = names.filter((name) => selects(selectors, deviceIdentity(name, fleet)));
  if (names.length === 0) {
    problems.push({
      message: '.piot/fleet.yaml has no devices',
      hint: 'configure a device image inside this repository (`piot image configure IMAGE --device NAME`): it records the device and its key',
    });
  }
  const devices: Record<string, string> = {};
  for (const name of selected) {
    const age = fleet.devices[name]?.age;
    if (age && !isRecipient(age)) {
      problems.push({
        message: `device "${name}" has a damaged age key in .piot/fleet.yaml (bad checksum)`,
        hint: `copy it again from \`piot image configure\`, or configure the image again: piot image configure IMAGE --device ${name}`,
      });
    } else if (age) devices[name] = age;
    else {
      problems.push({
        message: `device "${name}" has no age key in .piot/fleet.yaml, so it cannot receive secrets`,
        hint: `configure its image inside this repository (\`piot image configure IMAGE --device ${name}\`): it records the device's keys`,
      });
    }
  }
  for (const [name, key] of Object.entries(fleet.operators ?? {})) {
    if (!isRecipient(key)) {
      problems.push({
        message: `operator "${name}" has a damaged age key in .piot/fleet.yaml (bad checksum)`,
        hint: 'copy it again from the "# public key:" line of their key file',
      });
    }
  }
  return { recipients: { devices, operators: { ...(fleet.operators ?? {}) } }, problems };
}

/** True if text is an age recipient that encryption accepts (the bech32 checksum holds). */
function isRecipient(text: string): boolean {
  try {
    new Encrypter().addRecipient(text);
    return true;
  } catch {
    return false;
  }
}

/** What differs between the recipients a secret has and the ones it should have. */
export function recipientChanges(
  from: Record<string, string>,
  to: Record<string, string>,
): RecipientChanges {
  const sorted = (list: string[]) => list.sort();
  return {
    added: sorted(Object.keys(to).filter((n) => !(n in from))),
    removed: sorted(Object.keys(from).filter((n) => !(n in to))),
    changed: sorted(Object.keys(to).filter((n) => n in from && from[n] !== to[n])),
  };
}

/** True if the changes are none at all. */
export function noChanges(changes: RecipientChanges): boolean {
  return changes.added.length + changes.removed.length + changes.changed.length === 0;
}

/** Throws one UserError for every problem at once (nothing has been written yet). */
export function failOnProblems(problems: SecretProblem[], what: string): void {
  if (problems.length === 0) return;
  if (problems.length === 1) {
    throw new UserError(`${what}: ${problems[0]!.message}`, { hint: problems[0]!.hint });
  }
  const lines = problems.map((p) => `  ✖ ${p.message}${p.hint ? `\n    hint: ${p.hint}` : ''}`);
  throw new UserError(`${what}: ${problems.length} problems\n${lines.join('\n')}`);
}
