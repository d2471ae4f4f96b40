import { describe, expect, it } from 'vitest';
import { COMPLETE_EXAMPLE } from './reference.js';
import { initTemplate } from './template.js';
import { validateFleet, validatePiotYaml } from './validate.js';
import type { Fleet } from './fleet.js';

const bytes = (text: string) => new TextEncoder().encode(text);
const validate = (text: string, fleet?: Fleet) =>
  validatePiotYaml(bytes(text), { file: 'app/.piot.yaml', fleet });
const HEAD = 'version: 1\napp: demo\n';

describe('valid files', () => {
  it('accepts the complete example with every key', () => {
    const result = validate(COMPLETE_EXAMPLE);
    expect(result.problems).toEqual([]);
    if (!result.ok) throw new Error('invalid');
    const spec = result.value;
    expect(spec.app).toBe('weather-station');
    expect(spec.services?.sensor?.health?.http).toBe('http://127.0.0.1:8080/health');
    expect(spec.services?.display?.depends).toEqual(['sensor']);
    expect(spec.jobs?.backup?.retries).toBe(3);
    expect(spec.jobs?.migrate?.once).toBe('release');
    expect(spec.network?.wifi?.[1]?.ipv4?.address).toBe('192.168.50.20/24');
    expect(spec.deploy?.keep_releases).toBe(3);
  });

  it('accepts the minimal file', () => {
    expect(validate('version: 1\napp: x\n').ok).toBe(true);
  });

  it('accepts what piot init writes', () => {
    expect(validate(initTemplate('my-app')).problems).toEqual([]);
  });

  it('accepts cron macros, calendar expressions and numeric env values', () => {
    const text = `${HEAD}env: {N: 10, ON: true}
jobs:
  a: {run: x, schedule: "@hourly"}
  b: {run: x, schedule: "*/15 8-18 * * mon-fri"}
  c: {run: x, schedule: "Mon..Fri *-*-* 09:00"}
  d: {run: x, schedule: "weekly"}
  e: {run: x, schedule: "*-*-01 00:00:00 Europe/Berlin"}
`;
    expect(validate(text).problems).toEqual([]);
  });

  it('checks selectors against the fleet when one is given', () => {
    const fleet: Fleet = { version: 1, devices: { kitchen: { tags: ['sensors'] } } };
    const text = `${HEAD}services:\n  s: {run: x, devices: [kitchen, tag:sensors]}\n`;
    expect(validate(text, fleet).problems).toEqual([]);
  });
});

// [what, text, line, column, message fragment, hint fragment?]
type BadCase = [string, string, number, number, string, string?];
const bad: BadCase[] = [
  ['empty file', '', 1, 1, 'file is empty', 'version: 1'],
  ['only comments', '# nothing\n', 1, 1, 'file is empty'],
  ['a list at the root', '- a\n- b\n', 1, 1, 'holds a list, not a mapping'],
  ['a scalar at the root', 'hello\n', 1, 1, 'holds a single value'],
  ['syntax error: unclosed bracket', 'version: 1\napp: [x\n', 3, 1, 'YAML:'],
  ['tab indentation', 'version: 1\nsetup:\n\tapt: []\n', 3, 1, 'YAML: Tabs', 'indent with spaces'],
  ['duplicate key', 'version: 1\napp: a\napp: b\n', 3, 1, 'duplicate key'],
  ['two documents', 'version: 1\n---\napp: a\n', 2, 1, 'YAML:'],
  ['unknown YAML tag', 'version: 1\napp: !foo a\n', 2, 6, 'Unresolved tag'],
  ['missing version', 'app: a\n', 1, 1, 'missing required key "version"'],
  ['missing app', 'version: 1\n', 1, 1, 'missing required key "app"'],
  ['version 2', 'version: 2\napp: a\n', 1, 10, 'version must be 1, not 2'],
  ['version as text', 'version: "1"\napp: a\n', 1, 10, 'version must be 1'],
  ['app with capitals', 'version: 1\napp: Weather\n', 2, 6, 'not a valid app name'],
  ['app too long', `version: 1\napp: ${'a'.repeat(41)}\n`, 2, 6, 'not a valid app name'],
  [
    'unknown top-level key',
    `${HEAD}servces: {}\n`,
    3,
    1,
    'unknown key "servces"',
    'did you mean "services"?',
  ],
  [
    'unknown service key',
    `${HEAD}services:\n  s:\n    run: x\n    restat: always\n`,
    6,
    5,
    'unknown key "restat" in services.s',
    '"restart"',
  ],
  [
    'unknown job key',
    `${HEAD}jobs:\n  j: {run: x, once: device, retry: 2}\n`,
    4,
    29,
    'unknown key "retry"',
    '"retries"',
  ],
  [
    'service without run',
    `${HEAD}services:\n  s:\n    restart: always\n`,
    4,
    3,
    'services.s is missing required key "run"',
  ],
  [
    'service run empty',
    `${HEAD}services:\n  s: {run: ""}\n`,
    4,
    12,
    'services.s.run "" is out of range',
  ],
  [
    'service run a number',
    `${HEAD}services:\n  s: {run: 5}\n`,
    4,
    12,
    'services.s.run must be text, not 5',
  ],
  [
    'services as a list',
    `${HEAD}services:\n  - run: x\n`,
    4,
    3,
    'services must be a mapping, not a list',
  ],
  [
    'bad restart value',
    `${HEAD}services:\n  s: {run: x, restart: alway}\n`,
    4,
    24,
    'restart cannot be "alway"',
    'did you mean "always"?',
  ],
  [
    'bad user value',
    `${HEAD}services:\n  s: {run: x, user: pi}\n`,
    4,
    21,
    'services.s.user cannot be "pi"',
    'app, root',
  ],
  [
    'bad service name',
    `${HEAD}services:\n  My Service: {run: x}\n`,
    4,
    3,
    'cannot be used in a systemd unit name',
  ],
  [
    'service name with a dot',
    `${HEAD}services:\n  a.b: {run: x}\n`,
    4,
    3,
    'cannot be used in a systemd unit name',
  ],
  [
    'job name duplicates a service',
    `${HEAD}services:\n  sync: {run: x}\njobs:\n  sync: {run: y, once: device}\n`,
    6,
    3,
    'jobs.sync: the name "sync" is already a service',
  ],
  [
    'job with schedule and once',
    `${HEAD}jobs:\n  j:\n    run: x\n    schedule: daily\n    once: release\n`,
    7,
    5,
    'has both "schedule" and "once"',
  ],
  ['job with neither', `${HEAD}jobs:\n  j:\n    run: x\n`, 4, 3, 'needs "schedule" or "once"'],
  [
    'bad once value',
    `${HEAD}jobs:\n  j: {run: x, once: boot}\n`,
    4,
    21,
    'jobs.j.once cannot be "boot"',
    'release, device',
  ],
  [
    'cron with four fields',
    `${HEAD}jobs:\n  j: {run: x, schedule: "0 3 * *"}\n`,
    4,
    25,
    'cron needs 5 fields',
  ],
  [
    'cron minute out of range',
    `${HEAD}jobs:\n  j: {run: x, schedule: "61 3 * * *"}\n`,
    4,
    25,
    '61 is out of range in the minute field',
  ],
  [
    'cron bad month name',
    `${HEAD}jobs:\n  j: {run: x, schedule: "0 3 1 foo *"}\n`,
    4,
    25,
    '"foo" is not a number in the month field',
  ],
  [
    'cron @reboot',
    `${HEAD}jobs:\n  j: {run: x, schedule: "@reboot"}\n`,
    4,
    25,
    '@reboot is not a schedule',
  ],
  [
    'cron backwards range',
    `${HEAD}jobs:\n  j: {run: x, schedule: "0 5-2 * * *"}\n`,
    4,
    25,
    'runs backwards in the hour field',
  ],
  [
    'bad calendar expression',
    `${HEAD}jobs:\n  j: {run: x, schedule: "Mon *-*-* 25-00"}\n`,
    4,
    25,
    'is not understood in calendar expression',
  ],
  [
    'bad duration',
    `${HEAD}jobs:\n  j: {run: x, once: device, timeout: 10 minutes}\n`,
    4,
    38,
    'jobs.j.timeout: "10 minutes" is not a duration',
    '10m',
  ],
  [
    'duration without unit',
    `${HEAD}deploy: {health_timeout: 60}\n`,
    3,
    26,
    'deploy.health_timeout must be text, not 60',
  ],
  [
    'retries too large',
    `${HEAD}jobs:\n  j: {run: x, once: device, retries: 11}\n`,
    4,
    38,
    'jobs.j.retries 11 is out of range (at most 10)',
  ],
  [
    'retries not whole',
    `${HEAD}jobs:\n  j: {run: x, once: device, retries: 1.5}\n`,
    4,
    38,
    'jobs.j.retries must be a whole number',
  ],
  [
    'keep_releases zero',
    `${HEAD}deploy: {keep_releases: 0}\n`,
    3,
    25,
    'deploy.keep_releases 0 is out of range (at least 1)',
  ],
  [
    'secret not listed (env)',
    `${HEAD}secrets: [API_TOKEN]\nenv: {T: "secret:API_TOKN"}\n`,
    4,
    10,
    'secret "API_TOKN" is not listed in "secrets"',
    'did you mean "API_TOKEN"?',
  ],
  [
    'secret not listed (service secrets)',
    `${HEAD}services:\n  s: {run: x, secrets: [DB_PASS]}\n`,
    4,
    25,
    'services.s.secrets: "DB_PASS" is not in the app\'s secrets',
  ],
  [
    'secret not listed (wifi psk)',
    `${HEAD}network:\n  wifi:\n    - {ssid: Home, psk: "secret:HOME_PSK"}\n`,
    5,
    25,
    'secret "HOME_PSK" is not listed',
  ],
  ['lowercase secret name', `${HEAD}secrets: [api_token]\n`, 3, 11, 'is not a secret name'],
  ['secret listed twice', `${HEAD}secrets: [A, A]\n`, 3, 14, '"A" is listed twice'],
  ['bad env name', `${HEAD}env: {"1X": a}\n`, 3, 7, 'is not a valid environment variable name'],
  ['env value a list', `${HEAD}env: {X: [1]}\n`, 3, 10, 'env.X cannot be a list'],
  [
    'depends on nothing',
    `${HEAD}services:\n  web: {run: x, depends: [dbb]}\n  db: {run: y}\n`,
    4,
    27,
    'no service "dbb"',
    'did you mean "db"?',
  ],
  [
    'depends on itself',
    `${HEAD}services:\n  web: {run: x, depends: [web]}\n`,
    4,
    27,
    'depends on itself',
  ],
  [
    'depends in a circle',
    `${HEAD}services:\n  a: {run: x, depends: [b]}\n  b: {run: y, depends: [a]}\n`,
    4,
    15,
    'in a circle: a → b → a',
  ],
  [
    'health with both http and command',
    `${HEAD}services:\n  s:\n    run: x\n    health: {http: "http://127.0.0.1/", command: ./c}\n`,
    6,
    5,
    'needs exactly one of "http" and "command"',
  ],
  [
    'health with neither',
    `${HEAD}services:\n  s:\n    run: x\n    health: {timeout: 10s}\n`,
    6,
    5,
    'needs exactly one of',
  ],
  [
    'health url not http',
    `${HEAD}services:\n  s:\n    run: x\n    health: {http: "ftp://x/"}\n`,
    6,
    20,
    'is not an http(s) URL',
  ],
  [
    'bad selector',
    `${HEAD}services:\n  s: {run: x, devices: ["Kitchen Pi"]}\n`,
    4,
    25,
    'is not a device selector',
  ],
  [
    'unknown device',
    `${HEAD}services:\n  s: {run: x, devices: [kitchn]}\n`,
    4,
    25,
    'no device "kitchn" in .piot/fleet.yaml',
    'did you mean "kitchen"?',
  ],
  [
    'unknown device tag',
    `${HEAD}jobs:\n  j: {run: x, once: device, devices: ["tag:sensor"]}\n`,
    4,
    39,
    'no device in .piot/fleet.yaml has tag "sensor"',
    'did you mean "sensors"?',
  ],
  ['bad apt package', `${HEAD}setup: {apt: ["Python 3"]}\n`, 3, 15, 'is not a Debian package name'],
  ['unknown setup key', `${HEAD}setup: {pip: [x]}\n`, 3, 9, 'unknown key "pip" in setup'],
  [
    'short psk',
    `${HEAD}network:\n  wifi:\n    - {ssid: Home, psk: short}\n`,
    5,
    25,
    'must be 8 to 63 characters (it has 5)',
  ],
  [
    'ssid too long',
    `${HEAD}network:\n  wifi:\n    - {ssid: ${'x'.repeat(33)}}\n`,
    5,
    14,
    'is longer than 32 bytes',
  ],
  [
    'wifi without ssid',
    `${HEAD}network:\n  wifi:\n    - {psk: "12345678"}\n`,
    5,
    7,
    'network.wifi[0] is missing required key "ssid"',
  ],
  [
    'bad static address',
    `${HEAD}network:\n  ethernet:\n    - ipv4: {address: 192.168.1.300/24}\n`,
    5,
    23,
    'is not an IPv4 address with prefix',
  ],
  [
    'hidden not boolean',
    `${HEAD}network:\n  wifi:\n    - {ssid: a, hidden: yes}\n`,
    5,
    25,
    'must be true or false, not "yes"',
  ],
  ['binary value', `${HEAD}env: {X: !!binary aGk=}\n`, 3, 19, 'env.X cannot be binary data'],
];

describe('bad files', () => {
  const fleet: Fleet = { version: 1, devices: { kitchen: { tags: ['sensors'] }, garage: {} } };
  it.each(bad)('%s', (_name, text, line, column, message, hint) => {
    const result = validate(text, fleet);
    expect(result.ok).toBe(false);
    const match = result.problems.find((p) => p.message.includes(message));
    expect(
      match,
      `no problem mentioning ${JSON.stringify(message)} in ${JSON.stringify(result.problems, null, 1)}`,
    ).toBeDefined();
    expect({ file: match!.file, line: match!.line, column: match!.column }, match!.message).toEqual(
      { file: 'app/.piot.yaml', line, column },
    );
    if (hint !== undefined) expect(match!.hint).toContain(hint);
  });

  it('has at least 40 distinct bad inputs', () => {
    expect(new Set(bad.map((b) => b[1])).size).toBeGreaterThanOrEqual(40);
  });

  it('reports every problem at once, in file order', () => {
    const text =
      'version: 3\napp: A\nservices:\n  s: {run: x, restart: nope}\njobs:\n  j: {run: y}\n';
    const result = validate(text);
    expect(result.problems.map((p) => [p.line, p.column])).toEqual([
      [1, 10],
      [2, 6],
      [4, 24],
      [6, 3],
    ]);
  });

  it('refuses an alias bomb quickly and clearly', () => {
    const rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [prev, name] of [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
      ['d', 'e'],
      ['e', 'f'],
      ['f', 'g'],
      ['g', 'h'],
    ]) {
      rows.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(',')}]`);
    }
    const started = Date.now();
    const result = validate(`${rows.join('\n')}\n`);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(result.problems[0]?.message).toMatch(/aliases expand too much/);
  });

  it('refuses files over 1 MiB before parsing', () => {
    const text = `${HEAD}# ${'x'.repeat(1024 * 1024)}\n`;
    expect(validate(text).problems[0]?.message).toMatch(/more than the 1 MiB allowed/);
  });

  it('refuses binary junk', () => {
    const junk = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x00, 0xff, 0xfe]);
    const result = validatePiotYaml(junk, { file: 'x' });
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ line: 1, column: 1 });
    expect(result.problems[0]?.message).toMatch(/not UTF-8 text/);
  });

  it('refuses invalid UTF-8 without NUL bytes', () => {
    const result = validatePiotYaml(new Uint8Array([0x61, 0x3a, 0x20, 0xc3, 0x28]), { file: 'x' });
    expect(result.problems[0]?.message).toMatch(/not UTF-8 text/);
  });
});

describe('fleet file', () => {
  it('accepts devices with tags', () => {
    const result = validateFleet(bytes('version: 1\ndevices:\n  kitchen: {tags: [sensors]}\n'));
    expect(result.ok && result.value.devices.kitchen?.tags).toEqual(['sensors']);
  });

  it('names a bad device entry with its position', () => {
    const result = validateFleet(bytes('version: 1\ndevices:\n  kitchen: {tag: [x]}\n'), {
      file: 'f.yaml',
    });
    expect(result.problems[0]).toMatchObject({ file: 'f.yaml', line: 3, column: 13 });
    expect(result.problems[0]?.message).toContain('unknown key "tag"');
  });
});
