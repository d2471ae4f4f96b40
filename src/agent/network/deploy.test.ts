import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ageDevice, secretFileText } from '../../../test/support/secrets.js';
import { upstream } from '../../../test/support/upstream.js';
import { createGit } from '../../sys/git.js';
import type { NetworkManager } from '../../sys/network-manager.js';
import type { Systemd } from '../../sys/systemd.js';
import { wpaPsk } from '../../image/network.js';
import { deployOnce, recover, type DeployDeps } from '../deploy.js';
import { loadState } from '../state.js';

/** systemd where everything starts and stays active (the network is under test here). */
function quietSystemd(): Systemd {
  const files: Record<string, string> = {};
  const ok = () => Promise.resolve();
  return {
    installedUnits: (prefix) =>
      Promise.resolve(
        Object.fromEntries(Object.entries(files).filter(([n]) => n.startsWith(prefix))),
      ),
    writeUnit: (unit, content) => Promise.resolve(void (files[unit] = content)),
    removeUnit: (unit) => Promise.resolve(void delete files[unit]),
    daemonReload: ok,
    enable: ok,
    disable: ok,
    start: ok,
    restart: ok,
    stop: ok,
    status: () => Promise.resolve({ active: 'active', pid: 1 }),
    probe: () => Promise.resolve({ active: 'active', restarts: 0, activeForMs: 60_000 }),
    isEnabled: () => Promise.resolve(true),
    logTail: () => Promise.resolve(''),
    runOnce: () => Promise.resolve(true),
  };
}

const spec = (network: string) => `version: 1
app: demo
secrets: [LAB_PSK]
services:
  web:
    run: node web.js
${network}`;
const LAB = `network:
  wifi:
    - {ssid: Lab, psk: "secret:LAB_PSK", priority: 5}
  ethernet:
    - {ipv4: {address: 192.168.1.50/24, gateway: 192.168.1.1}}
`;

async function setup() {
  const up = upstream();
  const work = mkdtempSync(join(tmpdir(), 'piot-netdeploy-'));
  const conns = join(work, 'etc/NetworkManager/system-connections');
  mkdirSync(conns, { recursive: true });
  // A connection first boot installed from `piot image configure`: never the agent's to touch.
  writeFileSync(join(conns, 'piot-wifi-home.nmconnection'), 'image\n', { mode: 0o600 });
  const kitchen = await ageDevice('kitchen');
  writeFileSync(join(work, 'age.key'), `${kitchen.key}\n`);
  const calls: string[] = [];
  const net = { reachable: true };
  const clock = { now: 0 };
  const nm: NetworkManager = {
    reload: () => Promise.resolve(void calls.push('reload')),
    up: (c) => Promise.resolve(void calls.push(`up ${'id' in c ? c.id : c.uuid}`)),
    connections: () => Promise.resolve([]),
    connectDevice: (device) => Promise.resolve(void calls.push(`connect ${device}`)),
    wifi: () => Promise.resolve([]),
  };
  const deps: DeployDeps = {
    git: createGit({ url: up.dir, mirror: join(work, 'repo.git') }),
    systemd: quietSystemd(),
    device: 'kitchen',
    follow: { branch: 'main' },
    root: work,
    statePath: join(work, 'var/lib/piot/state.json'),
    log: () => undefined,
    health: { now: () => clock.now, sleep: (ms) => Promise.resolve(void (clock.now += ms)) },
    sync: () => Promise.resolve(),
    ageKeyFile: join(work, 'age.key'),
    network: {
      nm,
      check: () => (net.reachable ? Promise.resolve() : Promise.reject(new Error('unreachable'))),
      now: () => clock.now,
      sleep: (ms) => Promise.resolve(void (clock.now += ms)),
    },
  };
  const secret = async (value: string, devices = [kitchen]) => ({
    '.piot/secrets/LAB_PSK.yaml': await secretFileText(value, devices),
  });
  const files = () => readdirSync(conns).sort();
  const trial = join(work, 'var/lib/piot/network/trial.json');
  return {
    up,
    deps,
    conns,
    calls,
    net,
    secret,
    files,
    trial,
    state: () => loadState(deps.statePath),
  };
}

describe('network in a deploy', () => {
  it('applies the network of a healthy release, and nothing when it is unchanged', async () => {
    const t = await setup();
    const c1 = t.up.commit({ '.piot.yaml': spec(LAB), ...(await t.secret('lab-passphrase')) });
    expect(await deployOnce(t.deps)).toMatchObject({
      result: 'deployed',
      commit: c1,
      network: { result: 'applied' },
    });
    expect(t.files()).toEqual([
      'piot-app-eth0.nmconnection',
      'piot-app-wifi-lab.nmconnection',
      'piot-wifi-home.nmconnection',
    ]);
    const wifi = readFileSync(join(t.conns, 'piot-app-wifi-lab.nmconnection'), 'utf8');
    expect(wifi).toContain(`psk=${wpaPsk('Lab', 'lab-passphrase')}`);
    expect(wifi).toContain('autoconnect-priority=5');
    expect(readFileSync(join(t.conns, 'piot-app-eth0.nmconnection'), 'utf8')).toMatch(
      /interface-name=eth0[\s\S]*address1=192\.168\.1\.50\/24,192\.168\.1\.1/,
    );
    expect(t.calls).toEqual(['reload', 'up piot-app-eth0', 'up piot-app-wifi-lab']);
    expect((await t.state()).network).toMatchObject({ result: 'applied', commit: c1 });

    t.calls.length = 0;
    const c2 = t.up.commit({ 'web.js': 'v2' });
    const outcome = await deployOnce(t.deps);
    expect(outcome).toMatchObject({ result: 'deployed', commit: c2 });
    expect(outcome).not.toHaveProperty('network.result');
    expect(t.calls).toEqual([]);
    expect((await t.state()).network?.commit).toBe(c1);
  });

  it('keeps the release when its network is reverted, and does not retry that commit', async () => {
    const t = await setup();
    t.up.commit({ '.piot.yaml': spec(''), ...(await t.secret('lab-passphrase')) });
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'deployed' });
    expect(t.calls).toEqual([]);
    t.net.reachable = false;
    const broken = t.up.commit({ '.piot.yaml': spec(`${LAB}  check_timeout: 30s\n`) });
    const outcome = await deployOnce(t.deps);
    expect(outcome).toMatchObject({
      result: 'deployed',
      commit: broken,
      network: { result: 'reverted' },
    });
    const state = await t.state();
    expect(state.current).toBe(broken);
    expect(state.network).toMatchObject({ result: 'reverted', commit: broken });
    expect(state.network?.reason).toMatch(/not reachable within 30 s \(unreachable\)/);
    expect(t.files()).toEqual(['piot-wifi-home.nmconnection']);
    expect(existsSync(t.trial)).toBe(false);
    t.calls.length = 0;
    expect(await deployOnce(t.deps)).toMatchObject({ result: 'up-to-date' });
    expect(t.calls).toEqual([]);
  });

  it('restores the previous connections at the next start after a reboot mid-trial', async () => {
    const t = await setup();
    const c1 = t.up.commit({ '.piot.yaml': spec(LAB), ...(await t.secret('lab-passphrase')) });
    await deployOnce(t.deps);
    const before = readFileSync(join(t.conns, 'piot-app-eth0.nmconnection'), 'utf8');
    t.deps.network!.check = () => Promise.reject(new Error('the power went'));
    t.deps.network!.sleep = () => Promise.reject(new Error('the power went'));
    const c2 = t.up.commit({
      '.piot.yaml': spec(
        LAB.replace('192.168.1.50/24', '10.9.9.9/8').replace(', gateway: 192.168.1.1', ''),
      ),
    });
    await expect(deployOnce(t.deps)).rejects.toThrow('the power went');
    expect(readFileSync(join(t.conns, 'piot-app-eth0.nmconnection'), 'utf8')).toContain('10.9.9.9');
    expect(existsSync(t.trial)).toBe(true);

    t.calls.length = 0;
    const state = await recover(t.deps);
    expect(state.network).toMatchObject({ result: 'reverted', commit: c2 });
    expect(state.network?.reason).toMatch(/restarted during the network trial/);
    expect(readFileSync(join(t.conns, 'piot-app-eth0.nmconnection'), 'utf8')).toBe(before);
    expect(t.files()).toContain('piot-wifi-home.nmconnection');
    expect(t.calls).toEqual(['reload', 'up piot-app-eth0']);
    expect(existsSync(t.trial)).toBe(false);
    expect((await t.state()).current).toBe(c2);
    expect(c1).not.toBe(c2);
  });

  it('fails the deploy, changing nothing, when a passphrase secret is not for this device', async () => {
    const t = await setup();
    const garage = await ageDevice('garage');
    t.up.commit({ '.piot.yaml': spec(LAB), ...(await t.secret('lab-passphrase', [garage])) });
    const outcome = await deployOnce(t.deps);
    expect(outcome).toMatchObject({ result: 'failed' });
    if (outcome.result === 'failed')
      expect(outcome.reason).toMatch(/secret LAB_PSK is not encrypted for device kitchen/);
    expect(t.files()).toEqual(['piot-wifi-home.nmconnection']);
    expect(t.calls).toEqual([]);
  });
});
