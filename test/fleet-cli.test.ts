// The fleet commands (piot devices, status, logs, run, deploy, reboot, hub login) against a
// real hub on a loopback port, with a simulated device that heartbeats and answers commands.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliContext } from '../src/cli/context.js';
import { createProgram } from '../src/cli/program.js';
import { runCli } from '../src/cli/run.js';
import { createApiToken, createEnrolmentToken, setUserPassword } from '../src/hub/admin.js';
import { startHub, type RunningHub } from '../src/hub/serve.js';
import { signRequest } from '../src/hub/signing.js';
import { openStore } from '../src/hub/store/open.js';
import type { CommandRecord, Store } from '../src/hub/store/store.js';
import { signingPublicKey } from '../src/image/identity.js';

const root = join(import.meta.dirname, '..');
const COMMIT = 'abc1234def5678abc1234def5678abc1234def56';

/** A device that enrols, heartbeats once and (when answering) long-polls for commands. */
async function simulatedDevice(hubUrl: string, name: string, enrolment: string) {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const enrol = await fetch(`${hubUrl}/api/v1/enrol`, {
    method: 'POST',
    headers: { authorization: `Bearer ${enrolment}` },
    body: JSON.stringify({ name, signing: signingPublicKey(pem) }),
  });
  expect(enrol.status).toBe(201);
  const signed = (key: KeyObject, method: string, path: string, body?: unknown) => {
    const text = body === undefined ? undefined : JSON.stringify(body);
    const headers = signRequest({ device: name, privateKey: key, method, path, body: text });
    return fetch(`${hubUrl}${path}`, { method, headers, body: text });
  };
  const received: CommandRecord[] = [];
  const stop = new AbortController();
  return {
    received,
    heartbeat: (body: unknown) =>
      signed(privateKey, 'POST', `/api/v1/devices/${name}/heartbeat`, body),
    /** Answers every command with answer(command) until stopped. */
    async answer(answer: (command: CommandRecord) => object): Promise<void> {
      const path = `/api/v1/devices/${name}/commands?wait=1`;
      while (!stop.signal.aborted) {
        const response = await signed(privateKey, 'GET', path).catch(() => undefined);
        if (!response?.ok) continue;
        const { commands } = (await response.json()) as { commands: CommandRecord[] };
        for (const command of commands) {
          received.push(command);
          const done = await signed(
            privateKey,
            'POST',
            `/api/v1/devices/${name}/commands/${command.id}/result`,
            answer(command),
          );
          expect(done.status).toBe(200);
        }
      }
    },
    stop: () => stop.abort(),
  };
}

/** Runs the developer's piot in-process; env is all the environment it sees. */
async function piot(args: string[], env: NodeJS.ProcessEnv) {
  let stdout = '';
  let stderr = '';
  const ctx: CliContext = {
    cwd: root,
    out: (text) => void (stdout += text),
    err: (text) => void (stderr += text),
    color: false,
    env,
  };
  const code = await runCli(args, ctx, createProgram);
  return { code, stdout, stderr };
}

/** Runs the built dist/piot.js (for what reads stdin), without blocking the hub in this process. */
function piotProcess(args: string[], env: NodeJS.ProcessEnv, input: string) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(
      process.execPath,
      [join(root, 'dist/piot.js'), ...args],
      { env: { PATH: process.env.PATH, NO_COLOR: '1', ...env } },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(input);
  });
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise((done) => server.close(done));
  return port;
}

describe('the fleet commands against a hub', () => {
  let data: string;
  let store: Store;
  let hub: RunningHub;
  let token: string;
  let env: NodeJS.ProcessEnv;
  let kitchen: Awaited<ReturnType<typeof simulatedDevice>>;
  let answering: Promise<void>;

  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'piot-fleet-cli-'));
    store = await openStore({ data: join(data, 'hub') });
    hub = await startHub({ store }, { hostname: '127.0.0.1', port: 0 });
    await setUserPassword(store, 'ada', 'correct horse', Date.now());
    token = await createApiToken(store, 'ada', { label: 'test', now: Date.now() });
    env = { HOME: data, PIOT_HUB: hub.url, PIOT_HUB_API_TOKEN: token };

    const enrolment = async () => (await createEnrolmentToken(store, { now: Date.now() })).token;
    kitchen = await simulatedDevice(hub.url, 'kitchen', await enrolment());
    await simulatedDevice(hub.url, 'garage', await enrolment());
    const at = new Date(Date.now() - 2 * 3600_000).toISOString();
    const beat = await kitchen.heartbeat({
      agent: { version: '0.1.0', uptime: 7200 },
      metrics: { temperature: 51.4, cpu: 0.2, memory: 0.4, disk: 0.93, wifiSignal: -61 },
      deploy: {
        app: 'sensor',
        current: COMMIT,
        lastDeploy: { at, commit: COMMIT, kind: 'succeeded' },
      },
      events: [{ at, commit: COMMIT, kind: 'succeeded' }],
      jobRuns: [
        {
          app: 'sensor',
          job: 'backup',
          start: at,
          end: at,
          seconds: 1.5,
          status: 'failed',
          exitCode: 3,
          attempts: 1,
          log: ['disk full'],
        },
      ],
      health: { readOnlyRoot: false, failedUnits: [] },
      services: [
        {
          app: 'sensor',
          name: 'web',
          kind: 'service',
          state: 'active',
          sub: 'running',
          restarts: 2,
        },
        { app: 'sensor', name: 'backup', kind: 'job', state: 'inactive', sub: 'dead' },
      ],
    });
    expect(beat.status).toBe(200);
    answering = kitchen.answer((command) => {
      const args = (command.args ?? {}) as { service?: string; job?: string };
      if (command.kind === 'logs')
        return { ok: true, output: [`${args.service ?? 'agent'}: line 1`, 'line 2'] };
      if (command.kind === 'run-job')
        return args.job === 'backup'
          ? { ok: true, message: 'backup succeeded in 1.2 s', output: ['sent 3 rows'] }
          : { ok: false, message: `${args.job} failed (exit 3)`, output: ['disk full'] };
      if (command.kind === 'deploy')
        return { ok: true, message: `deployed ${COMMIT.slice(0, 12)}` };
      return { ok: true, message: 'rebooting' };
    });
  });

  afterAll(async () => {
    kitchen.stop();
    await answering;
    await hub.close();
    await store.close();
    await rm(data, { recursive: true, force: true });
  });

  it('lists the devices, online or never seen, with release, last deploy and health', async () => {
    const result = await piot(['devices'], env);
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+SEEN\s+APP\s+COMMIT\s+LAST DEPLOY\s+TEMP\s+HEALTH$/);
    expect(lines[1]).toMatch(/^garage\s+never seen\s+-\s+-\s+-\s+-\s+-$/);
    expect(lines[2]).toMatch(
      /^kitchen\s+online \d+ s\s+sensor\s+abc1234\s+succeeded 2 h ago\s+51 °C\s+disk 93%$/,
    );
    const json = await piot(['devices', '--json'], env);
    const { devices } = JSON.parse(json.stdout) as { devices: { name: string }[] };
    expect(devices.map((d) => d.name)).toEqual(['garage', 'kitchen']);
  });

  it("shows one device's summary, services, deploys and job runs", async () => {
    const result = await piot(['status', 'kitchen'], env);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^kitchen {2}online \(last seen \d+ s ago\), enrolled /);
    expect(result.stdout).toContain(`release   ${COMMIT}\n`);
    expect(result.stdout).toMatch(/health {4}disk 93%\n/);
    expect(result.stdout).toMatch(/ {2}web +service +active \(running\) {2}2 restarts\n/);
    expect(result.stdout).toMatch(/recent deploys\n {2}\S+Z {2}succeeded abc1234def56\n/);
    expect(result.stdout).toMatch(/recent job runs\n {2}\S+Z {2}backup failed \(exit 3\), 1.5 s\n/);
    const json = JSON.parse((await piot(['status', 'kitchen', '--json'], env)).stdout) as {
      device: { name: string };
      events: unknown[];
    };
    expect(json.device.name).toBe('kitchen');
    expect(json.events).toHaveLength(1);
  });

  it('fetches logs from the device and prints its lines', async () => {
    const result = await piot(['logs', 'kitchen', 'web', '-n', '3'], env);
    expect(result).toMatchObject({ code: 0, stdout: 'web: line 1\nline 2\n' });
    expect(kitchen.received.at(-1)).toMatchObject({
      kind: 'logs',
      args: { service: 'web', lines: 3 },
    });
    expect((await piot(['logs', 'kitchen'], env)).stdout).toBe('agent: line 1\nline 2\n');
    const bad = await piot(['logs', 'kitchen', '-n', '0'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--lines 0 is not a number from 1 to 1000/);
  });

  it("runs a job, printing the device's answer; a failed job exits 1", async () => {
    const ok = await piot(['run', 'kitchen', 'backup'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe('backup succeeded in 1.2 s\n    | sent 3 rows\n');
    expect(ok.stderr).toMatch(/run-job backup queued for kitchen; waiting for its answer/);
    const failed = await piot(['run', 'kitchen', 'broken'], env);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe('broken failed (exit 3)\n    | disk full\n');
    expect(failed.stderr).toMatch(/error: job broken did not succeed on kitchen\n/);
    const json = await piot(['run', 'kitchen', 'broken', '--json'], env);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({
      command: { kind: 'run-job', args: { job: 'broken' }, result: { ok: false } },
    });
  });

  it('deploys now and waits for the answer, or only queues with --no-wait', async () => {
    const result = await piot(['deploy', 'kitchen', '--now'], env);
    expect(result).toMatchObject({ code: 0, stdout: 'deployed abc1234def56\n' });
    const queued = await piot(['deploy', 'kitchen', '--no-wait'], env);
    expect(queued.code).toBe(0);
    expect(queued.stdout).toMatch(/^queued deploy for kitchen \(command [0-9a-f-]{36}\)/);
    expect((await piot(['reboot', 'kitchen'], env)).stdout).toBe('rebooting\n');
  });

  it('says which device did not answer and when it was last seen', async () => {
    const result = await piot(['logs', 'garage', '--timeout', '1'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /^error: garage has not answered: is it online\? \(never seen\)\n/,
    );
    expect(result.stderr).toMatch(/hint: the logs command stays queued on the hub/);
    expect((await piot(['logs', 'garage', '--timeout', 'soon'], env)).code).toBe(2);
  });

  it('names the hub that cannot be reached, a refused token and an unknown device', async () => {
    const down = `http://127.0.0.1:${await closedPort()}`;
    const unreachable = await piot(['devices', '--hub', down], env);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(`error: cannot reach the hub at ${down} (ECONNREFUSED)`);
    expect(unreachable.stderr).toContain(
      'hint: is the hub running there? The address came from --hub',
    );
    const refused = await piot(['status', 'kitchen'], { ...env, PIOT_HUB_API_TOKEN: 'piota_nope' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/error: the hub at http:\S+ refused the API token/);
    expect(refused.stderr).toMatch(
      /hint: make one on the hub with `piot hub token create --api USER`/,
    );
    const unknown = await piot(['logs', 'nobody'], env);
    expect(unknown.stderr).toMatch(
      /^error: no device named nobody on the hub\nhint: `piot devices`/,
    );
    expect(unknown.stderr).not.toMatch(/\n\s+at /);
    const bad = await piot(['run', 'kitchen', '../x'], env);
    expect(bad.stderr).toMatch(
      /error: the hub refused the request \(HTTP 400\): invalid body: job/,
    );
  });

  it('needs a hub, and hub login saves one that the commands then use', async () => {
    const home = await mkdtemp(join(data, 'home-'));
    const config = join(home, 'xdg');
    const none = await piot(['devices'], { HOME: home });
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /error: no hub is configured\nhint: run `piot hub login --url URL`/,
    );

    const wrong = await piotProcess(
      ['hub', 'login', '--url', hub.url],
      { XDG_CONFIG_HOME: config },
      'nope\n',
    );
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/refused the API token/);
    await expect(stat(join(config, 'piot/hub.yaml'))).rejects.toThrow();

    const login = await piotProcess(
      ['hub', 'login', '--url', `${hub.url}/`],
      { XDG_CONFIG_HOME: config },
      `${token}\n`,
    );
    expect(login.stderr).toBe(`saved ${hub.url} and your API token in ${config}/piot/hub.yaml\n`);
    expect(login.code).toBe(0);
    const file = join(config, 'piot/hub.yaml');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(parse(await readFile(file, 'utf8'))).toEqual({ url: hub.url, token });

    const saved = await piot(['status', 'kitchen', '--json'], { XDG_CONFIG_HOME: config });
    expect(saved.code).toBe(0);
    // The saved token goes to the saved hub only, never to another --hub.
    const elsewhere = await piot(['devices', '--hub', 'http://127.0.0.2:8800'], {
      XDG_CONFIG_HOME: config,
    });
    expect(elsewhere.stderr).toMatch(
      /^error: no API token for the hub at http:\/\/127\.0\.0\.2:8800\n/,
    );
    const notUrl = await piot(['devices', '--hub', 'hub.local'], { XDG_CONFIG_HOME: config });
    expect(notUrl.code).toBe(2);
    expect(notUrl.stderr).toMatch(/--hub "hub.local" is not a hub URL/);
  });

  it('revokes a device: the hub refuses its requests from then on', async () => {
    const attic = await simulatedDevice(
      hub.url,
      'attic',
      (await createEnrolmentToken(store, { now: Date.now() })).token,
    );
    expect((await attic.heartbeat({ metrics: { cpu: 0.1 } })).status).toBe(200);
    const revoked = await piot(
      ['hub', 'device', 'revoke', 'attic', '--data', join(data, 'hub')],
      env,
    );
    expect(revoked.stderr).toContain('attic is revoked');
    expect(revoked.code).toBe(0);
    expect((await attic.heartbeat({ metrics: { cpu: 0.2 } })).status).toBe(403);
    const unknown = await piot(
      ['hub', 'device', 'revoke', 'nobody', '--data', join(data, 'hub')],
      env,
    );
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('the hub has no device named nobody');
  });
});
