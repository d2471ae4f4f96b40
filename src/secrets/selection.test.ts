import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import type { Fleet } from '../spec/fleet.js';
import { operatorName } from './operator-key.js';
import { parseSelectors, recipientChanges, selectRecipients } from './selection.js';

const recipient = async () => identityToRecipient(await generateX25519Identity());
const [A, B, C] = [await recipient(), await recipient(), await recipient()];
const fleet: Fleet = {
  version: 1,
  devices: {
    kitchen: { tags: ['sensors'], age: A },
    porch: { tags: ['sensors', 'outdoor'], age: B },
    hall: { age: C },
    shed: { tags: ['outdoor'] },
  },
  operators: { ada: C },
};

describe('selectRecipients', () => {
  it('picks tagged and named devices with their keys, plus every operator', () => {
    const s = selectRecipients(['tag:sensors', 'hall'], fleet);
    expect(s.problems).toEqual([]);
    expect(s.recipients).toEqual({
      devices: { hall: C, kitchen: A, porch: B },
      operators: { ada: C },
    });
  });

  it('names a selector that matches nothing and lists the devices and tags', () => {
    const s = selectRecipients(['tag:sensor', 'kitchen'], fleet);
    expect(s.problems).toHaveLength(1);
    expect(s.problems[0]!.message).toBe('"tag:sensor" matches no device in .piot/fleet.yaml');
    expect(s.problems[0]!.hint).toMatch(/did you mean "tag:sensors"\?/);
    expect(s.problems[0]!.hint).toMatch(
      /devices: hall, kitchen, porch, shed; tags: outdoor, sensors/,
    );
    expect(s.recipients.devices).toEqual({ kitchen: A });
  });

  it('rejects a malformed selector', () => {
    const s = selectRecipients(['Kitchen!'], fleet);
    expect(s.problems[0]!.message).toMatch(/"Kitchen!" is not a device selector/);
  });

  it('names a selected device without a key and points to piot image configure', () => {
    const s = selectRecipients(['tag:outdoor'], fleet);
    expect(s.problems.map((p) => p.message)).toEqual([
      'device "shed" has no age key in .piot/fleet.yaml, so it cannot receive secrets',
    ]);
    expect(s.problems[0]!.hint).toMatch(/piot image configure IMAGE --device shed/);
    expect(s.recipients.devices).toEqual({ porch: B });
  });

  it('names a device or operator whose key has a bad checksum', () => {
    const damaged = `age1${'q'.repeat(58)}`;
    const s = selectRecipients(['hall'], {
      version: 1,
      devices: { hall: { age: damaged } },
      operators: { bob: damaged },
    });
    expect(s.problems.map((p) => p.message)).toEqual([
      'device "hall" has a damaged age key in .piot/fleet.yaml (bad checksum)',
      'operator "bob" has a damaged age key in .piot/fleet.yaml (bad checksum)',
    ]);
  });

  it('selects every device without selectors; an empty fleet is a problem', () => {
    expect(Object.keys(selectRecipients(undefined, fleet).recipients.devices)).toEqual([
      'hall',
      'kitchen',
      'porch',
    ]);
    expect(selectRecipients(undefined, { version: 1, devices: {} }).problems[0]!.message).toBe(
      '.piot/fleet.yaml has no devices',
    );
  });
});

describe('helpers', () => {
  it('parses --devices', () => {
    expect(parseSelectors(' tag:sensors, kitchen,,kitchen ')).toEqual(['tag:sensors', 'kitchen']);
  });

  it('diffs recipients', () => {
    expect(recipientChanges({ a: A, b: B }, { b: C, c: C })).toEqual({
      added: ['c'],
      removed: ['a'],
      changed: ['b'],
    });
  });

  it('makes operator names from user names', () => {
    expect(operatorName('Ada.Lovelace')).toBe('ada-lovelace');
    expect(operatorName('__')).toBe('operator');
    expect(operatorName('DOMAIN\\Bob')).toBe('domain-bob');
  });
});
