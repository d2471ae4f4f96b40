import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ageDevice, secretFileText } from '../../test/support/secrets.js';
import { validatePiotYaml } from '../spec/validate.js';
import {
  changedSecretEnvs,
  decryptSecrets,
  renderSecretEnv,
  secretEnv,
  SecretError,
  writeSecretEnv,
} from './secrets.js';

const parse = (text: string) => {
  const result = validatePiotYaml(Buffer.from(text));
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.value;
};

const spec = parse(`version: 1
app: demo
secrets: [API_TOKEN, DB_PASSWORD]
env: {TOKEN: secret:API_TOKEN}
services:
  web:
    run: node web.js
    secrets: [API_TOKEN]
  worker:
    run: node worker.js
    secrets: []
  plain:
    run: node plain.js
    env: {TOKEN: plain}
  all:
    run: node all.js
`);

function release(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'piot-secrets-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('secret environments', () => {
  it('gives a service its own secrets, secret: env values, and nothing a plain env overrides', () => {
    expect([...secretEnv(spec, spec.services!.web!)]).toEqual([
      ['API_TOKEN', 'API_TOKEN'],
      ['TOKEN', 'API_TOKEN'],
    ]);
    expect([...secretEnv(spec, spec.services!.worker!)]).toEqual([]);
    expect([...secretEnv(spec, spec.services!.plain!).keys()]).toEqual([
      'API_TOKEN',
      'DB_PASSWORD',
    ]);
    expect([...secretEnv(spec, spec.services!.all!).keys()].sort()).toEqual([
      'API_TOKEN',
      'DB_PASSWORD',
      'TOKEN',
    ]);
  });

  it('quotes values for systemd: quotes, backslashes, dollars and new lines survive', () => {
    const values = new Map([['API_TOKEN', 'a"b\\c$d`e\nline2']]);
    expect(renderSecretEnv(spec, 'web', values)).toBe(
      'API_TOKEN="a\\"b\\\\c\\$d\\`e\nline2"\nTOKEN="a\\"b\\\\c\\$d\\`e\nline2"\n',
    );
    expect(renderSecretEnv(spec, 'worker', values)).toBeUndefined();
  });
});

describe('decrypting on the device', () => {
  it('decrypts for a listed device, and names the secret and device when it cannot', async () => {
    const kitchen = await ageDevice('kitchen');
    const garage = await ageDevice('garage');
    const dir = release({
      '.piot/secrets/API_TOKEN.yaml': await secretFileText('s3cret', [kitchen], ['tag:sensors']),
    });
    const values = await decryptSecrets(dir, ['API_TOKEN'], {
      name: 'kitchen',
      ageKey: kitchen.key,
    });
    expect(values.get('API_TOKEN')).toBe('s3cret');

    const denied = decryptSecrets(dir, ['API_TOKEN'], { name: 'garage', ageKey: garage.key });
    await expect(denied).rejects.toThrow(SecretError);
    await expect(denied).rejects.toThrow(
      /secret API_TOKEN is not encrypted for device garage \(it was set for tag:sensors\)/,
    );
    // A device listed with a key that is not its own (a re-flashed Pi, a stale fleet file).
    const stale = decryptSecrets(dir, ['API_TOKEN'], { name: 'kitchen', ageKey: garage.key });
    await expect(stale).rejects.toThrow(/API_TOKEN cannot be decrypted with this device's key/);
    await expect(
      decryptSecrets(dir, ['DB_PASSWORD'], { name: 'kitchen', ageKey: kitchen.key }),
    ).rejects.toThrow(
      /secret DB_PASSWORD: .piot\/secrets\/DB_PASSWORD.yaml is not in this release/,
    );
  });

  it('writes a root-only env file, and reports which ones changed', async () => {
    const kitchen = await ageDevice('kitchen');
    const dir = release({
      '.piot/secrets/API_TOKEN.yaml': await secretFileText('one', [kitchen]),
    });
    const keyFile = join(dir, 'age.key');
    writeFileSync(keyFile, `# created: now\n${kitchen.key}\n`);
    const secretsDir = join(dir, 'run', 'secrets');
    const device = { name: 'kitchen', ageKeyFile: keyFile };
    await writeSecretEnv({ dir, spec, name: 'web' }, device, secretsDir);
    const file = join(secretsDir, 'web.env');
    expect(readFileSync(file, 'utf8')).toBe('API_TOKEN="one"\nTOKEN="one"\n');
    expect(statSync(file).mode & 0o777).toBe(0o400);
    expect(statSync(secretsDir).mode & 0o777).toBe(0o700);

    const same = new Map([['web', 'API_TOKEN="one"\nTOKEN="one"\n']]);
    expect(await changedSecretEnvs(same, secretsDir)).toEqual([]);
    const next = new Map([
      ['web', 'API_TOKEN="two"\nTOKEN="two"\n'],
      ['all', 'X="1"\n'],
    ]);
    expect(await changedSecretEnvs(next, secretsDir)).toEqual(['all', 'web']);
  });
});
