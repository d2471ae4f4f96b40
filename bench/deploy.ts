// Prints the agent's figures on the amd64 virtual Pi (TCG), the Pi reporting to a hub on the
// host's loopback meanwhile:
//  - trigger-to-healthy latency: `piot deploy --now` after a commit, until the new
//    release passed its health gate (goal: under 5 s); and the same triggered from the hub
//    (a deploy command, from queued to the device's answer). Two small apps, one after the
//    other: a Node.js HTTP server (`node server.js`), then a Python one
//    (`python3 -m http.server`, python3 installed by the app's `setup.apt` from a Debian
//    mirror on the host, as Raspberry Pi OS Lite has it already);
//  - each app's own start, without PioT: its unit restarted by hand until it answers (what a
//    deploy adds to it is PioT's part);
//  - the cost of an idle poll (CPU time of the agent and its git children per poll);
//  The app repository is served over HTTP from the host (git http-backend), as a Pi's remote
//  is a server on the network.
//  - the agent's resident memory after IDLE_MINUTES idle, as a ratio to a bare
//    `node -e "setInterval(()=>{},1000)"` started beside it in the same VM (goal: < 1.3),
//    with /metrics scraped every 15 s meanwhile, and its CPU use over that time (goal: < 0.5 %);
//    the agent restarts first, as after a boot, and its CPU is counted from the end of the first
//    minute; its memory right after the deploys is printed too.
// Run: npm run bench:deploy   (IDLE_MINUTES=10 and RUNS=5 deploys each way by default;
// ~20 minutes in all)
import { createApiToken, setUserPassword } from '../src/hub/admin.js';
import type { CommandRecord } from '../src/hub/store/store.js';
import { cachedImage, parseVariant } from '../src/vm/images.js';
import { VirtualPi } from '../src/vm/machine.js';
import { installAgent } from '../test/vm/device.js';
import { GIT_HOST, startHostServices } from '../test/vm/host-services.js';
import { HUB_HOST, installHubIdentity, startTestHub } from '../test/vm/hub-host.js';

const IDLE_MINUTES = Number(process.env.IDLE_MINUTES ?? 10);
const RUNS = Number(process.env.RUNS ?? 5);
const SERVER = `require('http').createServer((q, s) => s.end(require('fs').readFileSync('version.txt'))).listen(8080, '127.0.0.1');\n`;
const NODE_SPEC = `version: 1
app: bench
services:
  web:
    run: node server.js
    health: {http: "http://127.0.0.1:8080/"}
`;
const PYTHON_SPEC = `version: 1
app: bench
setup:
  apt: [python3]
services:
  web:
    run: python3 -m http.server 8080 --bind 127.0.0.1
    health: {http: "http://127.0.0.1:8080/version.txt"}
`;

const testHub = await startTestHub();
const host = await startHostServices();
const { hub, store } = testHub;
await setUserPassword(store, 'bench', 'bench-password', Date.now());
const api = await createApiToken(store, 'bench', { label: 'bench', now: Date.now() });

/** Queues a deploy on the hub and waits for the device's answer. */
async function hubDeploy(): Promise<CommandRecord> {
  const headers = { authorization: `Bearer ${api}` };
  const queued = await fetch(`${hub.url}/api/v1/devices/bench/commands`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ kind: 'deploy' }),
  });
  const { command } = (await queued.json()) as { command: CommandRecord };
  for (;;) {
    const got = await fetch(`${hub.url}/api/v1/devices/bench/commands/${command.id}`, { headers });
    const { command: now } = (await got.json()) as { command: CommandRecord };
    if (now.result) return now;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const vm = await VirtualPi.start({
  image: await cachedImage(parseVariant('bookworm-amd64-full')),
  accel: 'tcg',
  console: 'file',
  guestForwards: [testHub.forward, ...host.guestForwards],
});
try {
  await vm.waitForSsh(600_000);
  const commit = (files: Record<string, string>) => host.commit(files);
  await vm.sh(
    'sudo rm -f /etc/apt/sources.list.d/debian.sources && sudo tee /etc/apt/sources.list >/dev/null',
    { input: host.sources('bookworm') },
  );
  await installAgent(
    vm,
    `version: 1\nname: bench\nrepo: http://${GIT_HOST}/app.git\npoll: 1h\nhub:\n  url: http://${HUB_HOST}\n`,
  );
  await installHubIdentity(vm, testHub);
  await commit({ '.piot.yaml': NODE_SPEC, 'server.js': SERVER, 'version.txt': '0' });
  await vm.sh('sudo systemctl enable --now piot-agent.service');
  await vm.waitFor(
    'first deploy',
    async () => (await vm.ssh('curl -sf 127.0.0.1:8080')).code === 0,
    120_000,
  );
  const node = await measureApp('node');
  // The Python app: its first deploy installs python3 (not timed).
  await commit({ '.piot.yaml': PYTHON_SPEC, 'version.txt': 'python 0' });
  await vm.sh('sudo piot deploy --now', { timeoutMs: 900_000 });
  await vm.waitFor(
    'the Python app',
    async () => (await vm.ssh('curl -sf 127.0.0.1:8080/version.txt')).stdout === 'python 0',
    60_000,
  );
  const python = await measureApp('python');
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  /** Deploys RUNS commits from the device and RUNS from the hub, then restarts the app by hand. */
  async function measureApp(name: string) {
    // Latency: measured inside the VM, from the trigger to the healthy verdict.
    const latencies: number[] = [];
    const gates: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      await commit({ 'version.txt': `${name} ${run}` });
      const out = await vm.sh(
        'start=$(date +%s%N); sudo piot deploy --now; end=$(date +%s%N); echo "ms=$(( (end - start) / 1000000 ))"',
      );
      latencies.push(Number(/ms=(\d+)/.exec(out)?.[1]));
      gates.push(Number(/healthy in ([\d.]+) s/.exec(out)?.[1]) * 1000);
    }
    // The same, triggered from the hub: the agent is already running and long-polls for it.
    const hubLatencies: number[] = [];
    const hubGates: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      await commit({ 'version.txt': `${name} hub ${run}` });
      const answered = await hubDeploy();
      if (!answered.result?.ok) throw new Error(`hub deploy failed: ${answered.result?.message}`);
      hubLatencies.push(answered.finishedAt! - answered.createdAt);
      hubGates.push(
        Number(/healthy in ([\d.]+) s/.exec(answered.result.message ?? '')?.[1]) * 1000,
      );
    }
    // The app alone, without PioT: its unit restarted by hand until it answers, so that what
    // a deploy adds to the app's own start shows.
    const appAlone: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      const out = await vm.sh(
        'start=$(date +%s%N); sudo systemctl restart piot-bench-web.service; until curl -sf 127.0.0.1:8080/version.txt >/dev/null; do sleep 0.05; done; end=$(date +%s%N); echo "ms=$(( (end - start) / 1000000 ))"',
      );
      appAlone.push(Number(/ms=(\d+)/.exec(out)?.[1]));
    }
    return { latencies, gates, hubLatencies, hubGates, appAlone };
  }

  // Poll cost: the agent's cgroup CPU time over a minute of 1 s polls with nothing new.
  await vm.sh(
    "sudo sed -i 's/^poll: .*/poll: 1s/' /etc/piot/device.yaml && sudo systemctl restart piot-agent.service && sleep 5",
  );
  const cpu = async () =>
    Number((await vm.sh('systemctl show -p CPUUsageNSec --value piot-agent.service')).trim());
  const cpu0 = await cpu();
  const t0 = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 60_000));
  const polls = (Date.now() - t0) / 1000;
  const perPollMs = (await cpu()) - cpu0 > 0 ? ((await cpu()) - cpu0) / 1e6 / polls : NaN;
  const pollWall = await vm.sh(
    'cd /var/lib/piot && start=$(date +%s%N); sudo git --git-dir repo.git ls-remote origin refs/heads/main >/dev/null; end=$(date +%s%N); echo $(( (end - start) / 1000000 ))',
  );

  const rss = async (unit: string) => {
    const pid = (await vm.sh(`systemctl show -p MainPID --value ${unit}`)).trim();
    return Number(/VmRSS:\s+(\d+)/.exec(await vm.sh(`cat /proc/${pid}/status`))?.[1]);
  };
  // The agent that ran the deploys above (it has loaded what a deploy needs).
  const deployedKb = await rss('piot-agent.service');

  // Memory: the agent (back to a 30 s poll) beside a bare Node timer, both idle.
  await vm.sh(
    "sudo sed -i 's/^poll: .*/poll: 30s/' /etc/piot/device.yaml && sudo systemctl restart piot-agent.service",
  );
  await vm.sh(
    'sudo systemd-run --unit bare-node --quiet /usr/bin/node -e "setInterval(()=>{},1000)"',
  );
  // Scraped like Prometheus does (every 15 s), so the collectors run during the idle time.
  await vm.sh(
    "sudo systemd-run --unit scraper --quiet sh -c 'while :; do curl -sf 127.0.0.1:9101/metrics >/dev/null; sleep 15; done'",
  );
  console.log(
    `idling ${IDLE_MINUTES} minutes, /metrics scraped every 15 s, a heartbeat to the hub every 30 s…`,
  );
  // CPU from the end of the first minute: the agent's start (node, its first cycle and
  // collections) is not idling.
  const started = Date.now();
  await new Promise((resolve) => setTimeout(resolve, 60_000));
  const idleCpu0 = await cpu();
  const idle0 = Date.now();
  await new Promise((resolve) =>
    setTimeout(resolve, Math.max(0, IDLE_MINUTES * 60_000 - (Date.now() - started))),
  );
  const idleCore = ((await cpu()) - idleCpu0) / 1e6 / (Date.now() - idle0);
  const scrapeMs = await vm.sh(
    'start=$(date +%s%N); curl -sf 127.0.0.1:9101/metrics | wc -l; end=$(date +%s%N); echo $(( (end - start) / 1000000 ))',
  );
  const [metricLines, scrapeWall] = scrapeMs.trim().split('\n');
  const agentKb = await rss('piot-agent.service');
  const bareKb = await rss('bare-node.service');

  const seconds = (xs: number[]) =>
    `${(median(xs) / 1000).toFixed(2)} s (runs: ${xs.map((l) => (l / 1000).toFixed(2)).join(' ')})`;
  const appRows = (label: string, app: Awaited<ReturnType<typeof measureApp>>) => [
    [`${label}: trigger→healthy, median of ${RUNS}`, seconds(app.latencies), '< 5 s'],
    ['  of which health gate', `${(median(app.gates) / 1000).toFixed(2)} s`, ''],
    ['  the app alone: systemctl restart→answers', seconds(app.appAlone), ''],
    [`  hub deploy command→answer, median of ${RUNS}`, seconds(app.hubLatencies), '< 5 s'],
    ['  of which health gate', `${(median(app.hubGates) / 1000).toFixed(2)} s`, ''],
  ];
  const rows = [
    ['figure', 'value', 'goal'],
    ...appRows('Node.js app', node),
    ...appRows('Python app', python),
    ['idle poll, agent CPU per poll', `${perPollMs.toFixed(1)} ms`, ''],
    ['git ls-remote wall time (what the agent does in-process)', `${pollWall.trim()} ms`, ''],
    [`agent RSS after ${IDLE_MINUTES} min idle`, `${(agentKb / 1024).toFixed(1)} MiB`, ''],
    ['agent RSS right after the deploys', `${(deployedKb / 1024).toFixed(1)} MiB`, ''],
    ['bare node RSS, same VM', `${(bareKb / 1024).toFixed(1)} MiB`, ''],
    ['ratio agent / bare node', (agentKb / bareKb).toFixed(2), '< 1.3'],
    [
      `agent CPU while idle (minutes 1–${IDLE_MINUTES}), scraped and reporting`,
      `${(idleCore * 100).toFixed(2)} % of a core`,
      '< 0.5 %',
    ],
    ['one /metrics scrape', `${scrapeWall} ms, ${metricLines} lines`, ''],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i]!)).join('  '));
} finally {
  await vm.stop();
  await testHub.close();
  await host.close();
}
