import Ajv2020 from 'ajv/dist/2020.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { COMPLETE_EXAMPLE } from '../src/spec/reference.js';

const root = join(import.meta.dirname, '..');
const piot = (args: string[], cwd = root) => {
  const result = spawnSync(process.execPath, [join(root, 'dist/piot.js'), ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
};
const tempRepo = () => mkdtempSync(join(tmpdir(), 'piot-cli-'));

describe('piot CLI', () => {
  it('prints help with examples and its version', () => {
    const help = piot(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: piot/);
    expect(help.stdout).toMatch(/Examples:/);
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(piot(['--version']).stdout.trim()).toBe(pkg.version);
  });

  it('shows examples in each command help', () => {
    for (const command of ['init', 'validate', 'schema']) {
      const result = piot([command, '--help']);
      expect(result.code, command).toBe(0);
      expect(result.stdout, command).toMatch(/Examples:\n\s+piot /);
    }
  });

  it('exits 2 on usage errors and suggests the right command', () => {
    const result = piot(['validat']);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Did you mean validate\?/);
    expect(piot(['validate', '--bogus']).code).toBe(2);
  });

  it('reports a missing .piot.yaml as one message and a hint, no stack', () => {
    const dir = tempRepo();
    const result = piot(['validate'], dir);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^error: no \.piot\.yaml in /);
    expect(result.stderr).toMatch(/hint: run `piot init`/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('validate prints all three errors with positions and exits 1', () => {
    const dir = tempRepo();
    writeFileSync(
      join(dir, '.piot.yaml'),
      'version: 1\napp: demo\nservices:\n  web:\n    run: node web.js\n    restat: always\njobs:\n  backup:\n    run: ./b.sh\n    schedule: "0 25 * * *"\n  sync:\n    run: ./s.sh\n',
    );
    const result = piot(['validate'], dir);
    expect(result.code).toBe(1);
    const lines = result.stderr.split('\n').filter((l) => l.startsWith('✖'));
    expect(lines).toEqual([
      '✖ .piot.yaml:6:5: unknown key "restat" in services.web',
      '✖ .piot.yaml:10:15: jobs.backup.schedule: bad schedule: 25 is out of range in the hour field (0-23)',
      '✖ .piot.yaml:11:3: jobs.sync needs "schedule" or "once"',
    ]);
    expect(result.stderr).toMatch(/3 problems found/);
  });

  it('validate --json gives the problems as data', () => {
    const dir = tempRepo();
    writeFileSync(join(dir, '.piot.yaml'), 'version: 1\napp: Bad\n');
    const result = piot(['validate', dir, '--json']);
    expect(result.code).toBe(1);
    const data = JSON.parse(result.stdout) as {
      ok: boolean;
      problems: { line: number; column: number }[];
    };
    expect(data.ok).toBe(false);
    expect(data.problems).toEqual([expect.objectContaining({ line: 2, column: 6 })]);
  });

  it('validate reports problems in .piot/fleet.yaml and checks selectors against it', () => {
    const dir = tempRepo();
    mkdirSync(join(dir, '.piot'));
    writeFileSync(
      join(dir, '.piot/fleet.yaml'),
      'version: 1\ndevices:\n  kitchen: {tags: [sensors]}\n',
    );
    writeFileSync(
      join(dir, '.piot.yaml'),
      'version: 1\napp: a\nservices:\n  s: {run: x, devices: [tag:sensor]}\n',
    );
    const bad = piot(['validate'], dir);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain(
      '.piot.yaml:4:25: services.s.devices: no device in .piot/fleet.yaml has tag "sensor"',
    );
    writeFileSync(join(dir, '.piot/fleet.yaml'), 'version: 1\ndevices:\n  Kitchen: {}\n');
    const badFleet = piot(['validate'], dir);
    expect(badFleet.stderr).toContain('.piot/fleet.yaml:3:3:');
  });

  it('init writes a valid commented file, its schema and a CI workflow; refuses to overwrite', () => {
    const dir = join(tempRepo(), 'My Weather_App');
    mkdirSync(dir);
    const result = piot(['init'], dir);
    expect(result.code).toBe(0);
    const spec = readFileSync(join(dir, '.piot.yaml'), 'utf8');
    expect(spec).toMatch(/^# yaml-language-server: \$schema=\.piot\/piot-yaml\.schema\.json/);
    expect(spec).toMatch(/^app: my-weather-app$/m);
    expect(readFileSync(join(dir, '.github/workflows/piot.yml'), 'utf8')).toContain(
      'npx --yes piot validate',
    );
    expect(existsSync(join(dir, '.piot/piot-yaml.schema.json'))).toBe(true);
    expect(piot(['validate'], dir).code).toBe(0);
    const again = piot(['init'], dir);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);
    expect(piot(['init', '--force', '--ci', 'none'], dir).code).toBe(0);
  });

  it('schema output validates every example with an independent validator', () => {
    const result = piot(['schema']);
    expect(result.code).toBe(0);
    const schema = JSON.parse(result.stdout) as object;
    const ajv = new Ajv2020.default({ allErrors: true, strict: false });
    const check = ajv.compile(schema);
    const examples = [
      COMPLETE_EXAMPLE,
      readFileSync(join(root, 'examples/sensor/.piot.yaml'), 'utf8'),
      readFileSync(join(root, 'examples/distributed/.piot.yaml'), 'utf8'),
    ];
    for (const text of examples) {
      expect(check(parse(text)), JSON.stringify(check.errors)).toBe(true);
    }
    // And it rejects what piot rejects: an unknown key, a bad enum, a bad name.
    expect(check(parse('version: 1\napp: a\nservices: {s: {run: x, restat: always}}\n'))).toBe(
      false,
    );
    expect(check(parse('version: 1\napp: a\nservices: {s: {run: x, restart: sometimes}}\n'))).toBe(
      false,
    );
    expect(check(parse('version: 1\napp: a\njobs: {"A B": {run: x, once: device}}\n'))).toBe(false);
  });

  it('the committed reference docs and schema match the generated ones', () => {
    expect(readFileSync(join(root, 'docs/piot-yaml.md'), 'utf8')).toBe(
      piot(['schema', '--markdown']).stdout,
    );
    expect(readFileSync(join(root, 'docs/piot-yaml.schema.json'), 'utf8')).toBe(
      piot(['schema']).stdout,
    );
  });

  it('the examples validate with piot validate', () => {
    expect(piot(['validate', 'examples/sensor']).code).toBe(0);
    expect(piot(['validate', 'examples/distributed']).stdout).toMatch(/3 devices/);
  });
});

describe('piot secrets', () => {
  const VALUE = 'hunter2-Zq8v-never-print-me';
  const secretsRepo = async () => {
    const { generateX25519Identity, identityToRecipient } = await import('age-encryption');
    const dir = tempRepo();
    const keyFile = join(tempRepo(), 'age.key');
    const kitchen = await generateX25519Identity();
    const hall = await generateX25519Identity();
    writeFileSync(join(dir, '.piot.yaml'), 'version: 1\napp: demo\nsecrets: [API_TOKEN]\n');
    mkdirSync(join(dir, '.piot'));
    writeFileSync(
      join(dir, '.piot/fleet.yaml'),
      `version: 1\ndevices:\n  kitchen: {tags: [sensors], age: ${await identityToRecipient(kitchen)}}\n  hall: {age: ${await identityToRecipient(hall)}}\n`,
    );
    const run = (args: string[], input = '') => {
      const result = spawnSync(process.execPath, [join(root, 'dist/piot.js'), 'secrets', ...args], {
        cwd: dir,
        input,
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1', PIOT_AGE_KEY_FILE: keyFile },
      });
      return { code: result.status, stdout: result.stdout, stderr: result.stderr };
    };
    return { dir, keyFile, kitchen, hall, run };
  };

  it('set --stdin encrypts for the selected devices without printing the value', async () => {
    const { Decrypter, armor } = await import('age-encryption');
    const repo = await secretsRepo();
    const result = repo.run(
      ['set', 'API_TOKEN', '--devices', 'tag:sensors', '--stdin'],
      `${VALUE}\n`,
    );
    expect(result.stderr).toMatch(/note: made your operator key .*age\.key/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/✓ set API_TOKEN: readable by kitchen \(tag:sensors\)/);
    expect(result.stdout + result.stderr).not.toContain(VALUE);
    expect(existsSync(repo.keyFile)).toBe(true);
    const text = readFileSync(join(repo.dir, '.piot/secrets/API_TOKEN.yaml'), 'utf8');
    expect(text).not.toContain(VALUE);
    const decrypt = async (identity: string) => {
      const d = new Decrypter();
      d.addIdentity(identity);
      return d.decrypt(armor.decode((parse(text) as { value: string }).value), 'text');
    };
    // One final newline is dropped, as `echo` adds it.
    await expect(decrypt(repo.kitchen)).resolves.toBe(VALUE);
    await expect(decrypt(repo.hall)).rejects.toThrow();
  });

  it('ls --json lists recipients and staleness, never the value', async () => {
    const repo = await secretsRepo();
    expect(repo.run(['set', 'API_TOKEN'], VALUE).code).toBe(0);
    const result = repo.run(['ls', '--json']);
    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain(VALUE);
    expect(result.stdout).not.toContain('AGE-SECRET-KEY');
    const data = JSON.parse(result.stdout) as {
      secrets: { name: string; status: string; devices: string[]; used: boolean }[];
    };
    expect(data.secrets).toEqual([
      expect.objectContaining({
        name: 'API_TOKEN',
        status: 'ok',
        devices: ['hall', 'kitchen'],
        used: true,
        selectors: null,
      }),
    ]);
  });

  it('rejects an empty value and a bad name with a message and no stack', async () => {
    const repo = await secretsRepo();
    const empty = repo.run(['set', 'API_TOKEN', '--stdin'], '');
    expect(empty.code).toBe(1);
    expect(empty.stderr).toMatch(/^error: the value of API_TOKEN is empty; nothing was written/);
    const bad = repo.run(['set', 'api_token'], VALUE);
    expect(bad.stderr).toMatch(
      /error: "api_token" is not a secret name.*\nhint: did you mean API_TOKEN\?/,
    );
    expect(bad.stderr + empty.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(join(repo.dir, '.piot/secrets'))).toBe(false);
    expect(repo.run(['set', '--help']).stdout).toMatch(/Examples:\n\s+piot secrets set/);
  });
});
