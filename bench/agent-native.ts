// Prints the idle agent's CPU and resident memory on this machine, natively, beside a bare
// `node -e "setInterval(()=>{},1000)"` (issue goals: under 0.5 % of a core, under 1.3× the
// bare node's RSS). bench:deploy measures the same on the virtual Pi, whose emulated CPU
// (TCG) makes a bare node alone use 0.3–0.6 % of a core. Here the agent runs as on a device:
// the bundle, with the flags and environment of its unit, following an app repository over
// HTTP (30 s polls), reporting to a hub (30 s heartbeats, a long poll for commands), /metrics
// scraped every 15 s. /etc/piot, /var/lib/piot and /run/piot are a sandbox's, bound over in a
// mount namespace of its own; its state file says the repository's head is running, so every
// cycle is an idle one. The collectors read this machine's /proc and /sys; no PioT services
// run here, so their figures are missing.
// Run as root: npm run bench:agent   (IDLE_MINUTES=10 by default)
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyState } from '../src/agent/state.js';
import { startHostRepo } from '../test/vm/host-services.js';
import { startTestHub } from '../test/vm/hub-host.js';

const IDLE_MINUTES = Number(process.env.IDLE_MINUTES ?? 10);
const METRICS_PORT = 19101;
const BUNDLE = join(import.meta.dirname, '..', 'dist', 'piot-agent.mjs');
if (process.getuid?.() !== 0) throw new Error('run as root: the agent runs in a mount namespace');
if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run npm run build first`);

/** The agent's command line and environment, from the unit the device runs it with. */
async function agentUnit(): Promise<{ flags: string[]; env: Record<string, string> }> {
  const unit = await readFile(
    join(import.meta.dirname, '..', 'src', 'device', 'files', 'piot-agent.service'),
    'utf8',
  );
  const exec = /^ExecStart=\/usr\/bin\/node (.*) \/usr\/lib\/piot\/piot-agent\.mjs agent$/m.exec(
    unit,
  );
  if (!exec) throw new Error('piot-agent.service: no ExecStart of the agent bundle');
  const env = Object.fromEntries(
    (/^Environment=(.*)$/m.exec(unit)?.[1] ?? '').split(/\s+/).map((kv) => kv.split('=')),
  ) as Record<string, string>;
  return { flags: exec[1]!.split(/\s+/), env };
}

/** CPU seconds of a process and the children it has waited for; its resident KiB. */
async function usage(pid: number): Promise<{ cpu: number; rssKb: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  // Fields 14–17 (utime, stime, cutime, cstime), counted from the state field (3).
  const ticks = [11, 12, 13, 14].reduce((sum, i) => sum + Number(stat[i]), 0);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return { cpu: ticks / 100, rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const testHub = await startTestHub();
const repo = await startHostRepo();
const sandbox = await mkdtemp(join(tmpdir(), 'piot-agent-native-'));
const children: ChildProcess[] = [];
const madeMountPoints: string[] = [];
try {
  const head = await repo.commit({
    '.piot.yaml': 'version: 1\napp: idle\nservices:\n  web:\n    run: sleep infinity\n',
  });
  const etc = join(sandbox, 'etc');
  const lib = join(sandbox, 'lib');
  const runtime = join(sandbox, 'run');
  for (const dir of [join(etc, 'identity'), lib, runtime]) await mkdir(dir, { recursive: true });
  await writeFile(
    join(etc, 'device.yaml'),
    `version: 1\nname: native\nrepo: ${repo.git.url}/app.git\npoll: 30s\n` +
      `metrics: 127.0.0.1:${METRICS_PORT}\nhub:\n  url: ${testHub.hub.url}\n`,
  );
  await writeFile(join(etc, 'identity', 'hub-token'), `${testHub.token}\n`, { mode: 0o600 });
  await writeFile(join(etc, 'identity', 'signing.key'), testHub.signingKey, { mode: 0o600 });
  await writeFile(
    join(lib, 'state.json'),
    `${JSON.stringify({ ...emptyState(), app: 'idle', device: 'native', current: head, history: [head] })}\n`,
  );
  // Mount points for the sandbox's directories; any made here are removed at the end.
  for (const dir of ['/etc/piot', '/var/lib/piot', '/run/piot']) {
    if (!existsSync(dir)) {
      await mkdir(dir);
      madeMountPoints.push(dir);
    }
  }
  const { flags, env } = await agentUnit();
  const script = [
    `mount --bind ${etc} /etc/piot`,
    `mount --bind ${lib} /var/lib/piot`,
    `mount --bind ${runtime} /run/piot`,
    `exec ${process.execPath} ${flags.join(' ')} ${BUNDLE} agent`,
  ].join(' && ');
  const agent = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(agent);
  let said = '';
  agent.stderr.on('data', (chunk: Buffer) => (said += chunk.toString()));
  const bare = spawn(process.execPath, ['-e', 'setInterval(()=>{},1000)'], { stdio: 'ignore' });
  children.push(bare);

  // The agent is ready when it serves /metrics and the hub has its first heartbeat.
  const started = Date.now();
  for (;;) {
    if (agent.exitCode !== null) throw new Error(`the agent exited:\n${said}`);
    const scraped = await fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`).catch(() => undefined);
    const device = await testHub.store.getDevice('native');
    if (scraped?.ok && device?.lastSeen) break;
    if (Date.now() - started > 60_000) throw new Error(`the agent did not start:\n${said}`);
    await sleep(500);
  }
  const scraper = setInterval(() => {
    void fetch(`http://127.0.0.1:${METRICS_PORT}/metrics`)
      .then((r) => r.text())
      .catch(() => undefined);
  }, 15_000);
  console.log(
    `idling ${IDLE_MINUTES} minutes natively (${process.version}), /metrics scraped every 15 s, a heartbeat to the hub every 30 s…`,
  );
  // As in bench:deploy, CPU counts from the end of the first minute.
  await sleep(Math.max(0, 60_000 - (Date.now() - started)));
  // unshare and sh exec: the process started is the agent's node.
  const agentPid = agent.pid!;
  const agent0 = await usage(agentPid);
  const bare0 = await usage(bare.pid!);
  const t0 = Date.now();
  await sleep(Math.max(0, IDLE_MINUTES * 60_000 - (Date.now() - started)));
  const agent1 = await usage(agentPid);
  const bare1 = await usage(bare.pid!);
  const seconds = (Date.now() - t0) / 1000;
  clearInterval(scraper);
  if (agent.exitCode !== null) throw new Error(`the agent exited:\n${said}`);
  const heartbeats = (await testHub.store.samples('native', { from: t0, to: Date.now() })).length;

  const pct = (cpu: number) => `${((cpu / seconds) * 100).toFixed(3)} %`;
  const rows = [
    ['figure', 'value', 'goal'],
    [`agent CPU, minutes 1–${IDLE_MINUTES}`, pct(agent1.cpu - agent0.cpu), '< 0.5 %'],
    ['bare node CPU, same time', pct(bare1.cpu - bare0.cpu), ''],
    ['agent RSS', `${(agent1.rssKb / 1024).toFixed(1)} MiB`, ''],
    ['bare node RSS', `${(bare1.rssKb / 1024).toFixed(1)} MiB`, ''],
    ['agent RSS / bare node RSS', (agent1.rssKb / bare1.rssKb).toFixed(2), '< 1.3'],
  ];
  console.log(`heartbeats the hub stored meanwhile: ${heartbeats}`);
  for (const row of rows) console.log(`${row[0]!.padEnd(34)} ${row[1]!.padEnd(12)} ${row[2]}`);
} finally {
  for (const child of children) child.kill('SIGTERM');
  await sleep(500);
  for (const dir of madeMountPoints) await rmdir(dir).catch(() => undefined);
  await rm(sandbox, { recursive: true, force: true });
  await repo.close();
  await testHub.close();
}
