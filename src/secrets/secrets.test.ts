import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { chmod, mkdir, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UserError } from '../errors.js';
import { validateFleet, validateSecretFile } from '../spec/validate.js';
import { exists } from '../sys/fs.js';
import { decryptValue } from './crypto.js';
import { listSecrets } from './list.js';
import { rekeySecrets } from './rekey.js';
import { removeSecret } from './remove.js';
import { setSecret, type SetSecretOptions } from './set.js';

const VALUE = 'tok-3f9a7c1e-very-secret';

interface Device {
  key: string;
  recipient: string;
}

async function device(): Promise<Device> {
  const key = await generateX25519Identity();
  return { key, recipient: await identityToRecipient(key) };
}

/** The UserError a promise rejects with. */
async function caught(promise: Promise<unknown>): Promise<UserError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof UserError)) throw new Error(`expected a UserError, got ${String(error)}`);
  return error;
}

/** An app repository with three devices (two tagged sensors) and an operator key path. */
async function fixture() {
  const root = await mkdtemp(join(tmpdir(), 'piot-secrets-'));
  const home = await mkdtemp(join(tmpdir(), 'piot-home-'));
  const d = { kitchen: await device(), porch: await device(), hall: await device() };
  await writeFile(
    join(root, '.piot.yaml'),
    'version: 1\napp: demo\nsecrets: [API_TOKEN, DB_PASSWORD]\nservices:\n  web:\n    run: node web.js\n',
  );
  await mkdir(join(root, '.piot'));
  await mkdir(join(root, 'src', 'deep'), { recursive: true });
  const fleet = (extra = '') =>
    writeFile(
      join(root, '.piot', 'fleet.yaml'),
      `# our fleet\nversion: 1\ndevices:\n` +
        `  kitchen: {tags: [sensors], age: ${d.kitchen.recipient}}\n` +
        `  porch: {tags: [sensors], age: ${d.porch.recipient}}\n` +
        `  hall: {age: ${d.hall.recipient}}\n${extra}`,
    );
  await fleet();
  const keyPath = join(home, 'config', 'piot', 'age.key');
  const env = { HOME: home, PIOT_AGE_KEY_FILE: keyPath };
  const set = (name: string, options: Partial<SetSecretOptions> = {}) =>
    setSecret({
      cwd: join(root, 'src', 'deep'),
      env,
      name,
      readValue: () => Promise.resolve(VALUE),
      operator: 'ada',
      ...options,
    });
  const secretText = (name: string) =>
    readFile(join(root, '.piot', 'secrets', `${name}.yaml`), 'utf8');
  const armored = async (name: string) => {
    const checked = validateSecretFile(Buffer.from(await secretText(name)), { file: name });
    if (!checked.ok) throw new Error(JSON.stringify(checked.problems));
    return checked.value;
  };
  const operatorIdentity = async () =>
    (await readFile(keyPath, 'utf8')).split('\n').find((l) => l.startsWith('AGE-SECRET-KEY-1'))!;
  return { root, home, d, env, keyPath, fleet, set, secretText, armored, operatorIdentity };
}

describe('piot secrets set', () => {
  it('encrypts for tag:sensors and the operator only, from a subdirectory', async () => {
    const fx = await fixture();
    const result = await fx.set('API_TOKEN', { devices: 'tag:sensors' });
    expect(result).toMatchObject({
      file: '.piot/secrets/API_TOKEN.yaml',
      selectors: ['tag:sensors'],
      devices: ['kitchen', 'porch'],
      operators: ['ada'],
      replaced: false,
    });

    const text = await fx.secretText('API_TOKEN');
    expect(text.split('\n')[0]).toMatch(
      /^# Written by `piot secrets set API_TOKEN`; do not edit by hand/,
    );
    expect(text).not.toContain(VALUE);
    const file = await fx.armored('API_TOKEN');
    expect(Object.keys(file.recipients.devices)).toEqual(['kitchen', 'porch']);

    await expect(decryptValue(file.value, [fx.d.kitchen.key])).resolves.toBe(VALUE);
    await expect(decryptValue(file.value, [fx.d.porch.key])).resolves.toBe(VALUE);
    await expect(decryptValue(file.value, [fx.d.hall.key])).rejects.toThrow(/no identity matched/);
    await expect(decryptValue(file.value, [await fx.operatorIdentity()])).resolves.toBe(VALUE);
  });

  it('makes the operator key (0600 in a 0700 directory) and records it in fleet.yaml', async () => {
    const fx = await fixture();
    const result = await fx.set('API_TOKEN');
    expect((await stat(fx.keyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(join(fx.keyPath, '..'))).mode & 0o777).toBe(0o700);
    const recipient = await identityToRecipient(await fx.operatorIdentity());
    const fleetText = await readFile(join(fx.root, '.piot', 'fleet.yaml'), 'utf8');
    expect(fleetText).toMatch(/^# our fleet\n/);
    const fleet = validateFleet(Buffer.from(fleetText));
    expect(fleet.ok && fleet.value.operators).toEqual({ ada: recipient });
    expect(result.notes.join('\n')).toMatch(/made your operator key .*age\.key/);
    expect(result.notes.join('\n')).toMatch(/added operator ada \(age1/);
    expect(result.devices).toEqual(['hall', 'kitchen', 'porch']);
    expect(result.selectors).toBeUndefined();

    const again = await fx.set('DB_PASSWORD', { devices: 'hall' });
    expect(again.notes).toEqual([]);
  });

  it('adds an existing key that is not an operator yet, and warns about an unlisted name', async () => {
    const fx = await fixture();
    await mkdir(join(fx.keyPath, '..'), { recursive: true });
    const own = await device();
    await writeFile(fx.keyPath, `# mine\n${own.key}\n`);
    await chmod(fx.keyPath, 0o644);
    const result = await fx.set('OTHER_TOKEN', { operator: 'bob' });
    expect(result.operators).toEqual(['bob']);
    expect(result.notes.some((n) => n.startsWith('made your operator key'))).toBe(false);
    expect(result.notes).toContain(
      `added operator bob (${own.recipient}) to .piot/fleet.yaml: every secret is also encrypted to it; commit it`,
    );
    expect(result.notes.join('\n')).toMatch(/\.piot\.yaml does not list OTHER_TOKEN in "secrets:"/);
    expect(result.notes[0]).toMatch(
      /age\.key is readable by other users \(mode 0644\): chmod 600 /,
    );
    const file = await fx.armored('OTHER_TOKEN');
    await expect(decryptValue(file.value, [own.key])).resolves.toBe(VALUE);
  });

  it('keeps the devices of an existing secret unless told otherwise', async () => {
    const fx = await fixture();
    await fx.set('API_TOKEN', { devices: 'tag:sensors' });
    const again = await fx.set('API_TOKEN', { readValue: () => Promise.resolve('new') });
    expect(again.replaced).toBe(true);
    expect(again.devices).toEqual(['kitchen', 'porch']);
    expect(again.notes[0]).toMatch(/kept the devices of the existing API_TOKEN: tag:sensors/);
    const all = await fx.set('API_TOKEN', { allDevices: true });
    expect(all.devices).toEqual(['hall', 'kitchen', 'porch']);
    expect((await fx.armored('API_TOKEN')).devices).toBeUndefined();
  });

  it('rejects bad input before asking for the value, and writes nothing', async () => {
    const fx = await fixture();
    let asked = 0;
    const readValue = () => {
      asked++;
      return Promise.resolve(VALUE);
    };
    await expect(fx.set('api-token', { readValue })).rejects.toThrow(
      /"api-token" is not a secret name: use UPPER_CASE/,
    );
    const unknown = await caught(fx.set('API_TOKEN', { devices: 'tag:sensor', readValue }));
    expect(unknown.message).toBe(
      'cannot set API_TOKEN: "tag:sensor" matches no device in .piot/fleet.yaml',
    );
    expect(unknown.hint).toMatch(/did you mean "tag:sensors"\?.*devices: hall, kitchen, porch/);
    await fx.fleet('  shed: {tags: [sensors]}\n');
    const unkeyed = await caught(fx.set('API_TOKEN', { devices: 'tag:sensors', readValue }));
    expect(unkeyed.message).toBe(
      'cannot set API_TOKEN: device "shed" has no age key in .piot/fleet.yaml, so it cannot receive secrets',
    );
    expect(unkeyed.hint).toMatch(/piot image configure IMAGE --device shed/);
    expect(asked).toBe(0);
    await expect(
      fx.set('API_TOKEN', { devices: 'hall', readValue: () => Promise.resolve('') }),
    ).rejects.toThrow('the value of API_TOKEN is empty; nothing was written');
    expect(await exists(join(fx.root, '.piot', 'secrets', 'API_TOKEN.yaml'))).toBe(false);
    expect(await exists(fx.keyPath)).toBe(false);
  });

  it('refuses an operator name taken by another key', async () => {
    const fx = await fixture();
    await fx.set('API_TOKEN');
    const other = { ...fx.env, PIOT_AGE_KEY_FILE: join(fx.home, 'other.key') };
    await expect(fx.set('API_TOKEN', { env: other })).rejects.toThrow(
      /operator "ada" in \.piot\/fleet\.yaml has another key than yours/,
    );
  });

  it('needs an app repository', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'piot-norepo-'));
    await expect(
      setSecret({ cwd: dir, env: {}, name: 'A', readValue: () => Promise.resolve('x') }),
    ).rejects.toThrow(/no \.piot\.yaml in .* or any directory above it/);
  });
});

describe('piot secrets ls, rekey, rm', () => {
  it('finds a secret stale after a device joins, and rekey lets the new device read it', async () => {
    const fx = await fixture();
    await fx.set('API_TOKEN', { devices: 'tag:sensors' });
    await fx.set('UNUSED', { devices: 'hall' });
    let ls = await listSecrets({ cwd: fx.root });
    expect(ls.secrets.map((s) => [s.name, s.status, s.used])).toEqual([
      ['API_TOKEN', 'ok', true],
      ['DB_PASSWORD', 'missing', true],
      ['UNUSED', 'ok', false],
    ]);

    const garage = await device();
    await fx.fleet(
      `  garage: {tags: [sensors], age: ${garage.recipient}}\noperators: {ada: ${await identityToRecipient(await fx.operatorIdentity())}}\n`,
    );
    ls = await listSecrets({ cwd: fx.root });
    const token = ls.secrets.find((s) => s.name === 'API_TOKEN')!;
    expect(token.status).toBe('stale');
    expect(token.devices).toEqual(['kitchen', 'porch']);
    expect(token.changes.devices).toEqual({ added: ['garage'], removed: [], changed: [] });
    expect(ls.secrets.find((s) => s.name === 'UNUSED')!.status).toBe('ok');

    const rekeyed = await rekeySecrets({ cwd: fx.root, env: fx.env, names: [] });
    expect(rekeyed.secrets.map((s) => s.name)).toEqual(['API_TOKEN']);
    expect(rekeyed.secrets[0]!.changes.devices.added).toEqual(['garage']);
    expect(rekeyed.secrets[0]!.devices).toEqual(['garage', 'kitchen', 'porch']);
    const file = await fx.armored('API_TOKEN');
    await expect(decryptValue(file.value, [garage.key])).resolves.toBe(VALUE);
    await expect(decryptValue(file.value, [fx.d.hall.key])).rejects.toThrow();
    expect((await listSecrets({ cwd: fx.root })).secrets[0]!.status).toBe('ok');
    expect((await rekeySecrets({ cwd: fx.root, env: fx.env, names: [] })).secrets).toEqual([]);
  });

  it('notices a changed device key and a new operator', async () => {
    const fx = await fixture();
    await fx.set('API_TOKEN', { devices: 'kitchen' });
    const text = await readFile(join(fx.root, '.piot', 'fleet.yaml'), 'utf8');
    const bob = await device();
    await writeFile(
      join(fx.root, '.piot', 'fleet.yaml'),
      text.replace(fx.d.kitchen.recipient, bob.recipient) + `  bob: ${bob.recipient}\n`,
    );
    const [token] = (await listSecrets({ cwd: fx.root })).secrets;
    expect(token!.status).toBe('stale');
    expect(token!.changes.devices.changed).toEqual(['kitchen']);
    expect(token!.changes.operators.added).toEqual(['bob']);
  });

  it('rekeys a named secret to new devices', async () => {
    const fx = await fixture();
    await fx.set('API_TOKEN', { devices: 'tag:sensors' });
    const result = await rekeySecrets({
      cwd: fx.root,
      env: fx.env,
      names: ['API_TOKEN'],
      devices: 'hall',
    });
    expect(result.secrets[0]!.changes.devices).toEqual({
      added: ['hall'],
      removed: ['kitchen', 'porch'],
      changed: [],
    });
    const file = await fx.armored('API_TOKEN');
    expect(file.devices).toEqual(['hall']);
    await expect(decryptValue(file.value, [fx.d.hall.key])).resolves.toBe(VALUE);
    await expect(decryptValue(file.value, [fx.d.kitchen.key])).rejects.toThrow();
  });

  it('refuses to rekey with a key that is not a recipient, naming the operators who can', async () => {
    const fx = await fixture();
    await fx.set('API_TOKEN', { devices: 'tag:sensors' });
    const before = await fx.secretText('API_TOKEN');
    const stranger = join(fx.home, 'stranger.key');
    await writeFile(stranger, `${(await device()).key}\n`);
    const refused = await caught(
      rekeySecrets({ cwd: fx.root, env: { PIOT_AGE_KEY_FILE: stranger }, names: ['API_TOKEN'] }),
    );
    expect(refused.message).toMatch(
      /^nothing was re-encrypted: API_TOKEN: your key .*stranger\.key \(age1.*\) is not one it is encrypted to; operators who can rekey it: ada$/,
    );
    expect(refused.hint).toMatch(/piot secrets rekey API_TOKEN/);
    await expect(
      rekeySecrets({
        cwd: fx.root,
        env: { PIOT_AGE_KEY_FILE: join(fx.home, 'none.key') },
        names: ['API_TOKEN'],
      }),
    ).rejects.toThrow(/no operator key at .*none\.key/);
    expect(await fx.secretText('API_TOKEN')).toBe(before);
  });

  it('removes a secret and warns that .piot.yaml still lists it', async () => {
    const fx = await fixture();
    await fx.set('API_TOKEN');
    const result = await removeSecret({ cwd: fx.root, name: 'API_TOKEN' });
    expect(result.notes[0]).toMatch(/\.piot\.yaml still lists API_TOKEN/);
    expect(await exists(join(fx.root, '.piot', 'secrets', 'API_TOKEN.yaml'))).toBe(false);
    await expect(removeSecret({ cwd: fx.root, name: 'API_TOKEN' })).rejects.toThrow(
      /no secret API_TOKEN \(\.piot\/secrets\/API_TOKEN\.yaml does not exist\)/,
    );
    await fx.set('UNUSED');
    expect((await removeSecret({ cwd: fx.root, name: 'UNUSED' })).notes.join()).not.toMatch(
      /still lists/,
    );
  });
});
