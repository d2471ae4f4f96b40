import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { NetworkManager, NmConnection } from '../../sys/network-manager.js';
import { applyNetwork, recoverNetwork, type NetworkDeps } from './trial.js';

const FOREIGN = { 'piot-wifi-home.nmconnection': 'from first boot\n', 'other.nmconnection': 'x\n' };
const OLD = { 'piot-app-wifi-lab.nmconnection': '[connection]\nid=piot-app-wifi-lab\n' };
const NEW = { 'piot-app-eth0.nmconnection': '[connection]\nid=piot-app-eth0\n' };

/** NetworkManager in memory: records calls; `reachable` says whether the check passes. */
function setup(options: { reachable: (files: string[]) => boolean }) {
  const dir = mkdtempSync(join(tmpdir(), 'piot-nm-'));
  const conns = join(dir, 'system-connections');
  const calls: string[] = [];
  const clock = { now: Date.parse('2026-01-01T00:00:00Z') };
  mkdirSync(conns);
  for (const [name, text] of Object.entries({ ...FOREIGN, ...OLD })) {
    writeFileSync(join(conns, name), text, { mode: 0o600 });
  }
  let active: NmConnection[] = [
    { name: 'Wired connection 1', uuid: 'u-wired', type: 'ethernet', device: 'eth0', active: true },
  ];
  const nm: NetworkManager = {
    reload: () => Promise.resolve(void calls.push('reload')),
    up: (c) => {
      calls.push(`up ${'id' in c ? c.id : `${c.uuid} ${c.device}`}`);
      if ('uuid' in c) active = [{ ...active[0]!, active: true }];
      return Promise.resolve('id' in c && c.id.includes('eth0') ? 'no carrier' : undefined);
    },
    connections: () => Promise.resolve(active),
    connectDevice: (device) => Promise.resolve(void calls.push(`connect ${device}`)),
    wifi: () => Promise.resolve([]),
  };
  const deps: NetworkDeps = {
    nm,
    dir: conns,
    trialPath: join(dir, 'state', 'network', 'trial.json'),
    check: () => {
      calls.push('check');
      return options.reachable(readdirSync(conns).sort())
        ? Promise.resolve()
        : Promise.reject(new Error('fatal: unable to access origin'));
    },
    now: () => clock.now,
    sleep: (ms) => Promise.resolve(void (clock.now += ms)),
    log: () => undefined,
  };
  const files = () =>
    Object.fromEntries(readdirSync(conns).map((n) => [n, readFileSync(join(conns, n), 'utf8')]));
  return {
    deps,
    calls,
    files,
    clock,
    dropActive: () => (active = active.map((c) => ({ ...c, device: '', active: false }))),
    dropProfiles: () => (active = []),
  };
}

describe('applyNetwork', () => {
  it('keeps a change once the repository answers, leaving other keyfiles alone', async () => {
    const t = setup({ reachable: () => true });
    const outcome = await applyNetwork(t.deps, NEW, { commit: 'c1', timeoutMs: 30_000 });
    expect(outcome).toMatchObject({ result: 'applied', commit: 'c1' });
    expect(t.files()).toEqual({ ...FOREIGN, ...NEW });
    expect(statSync(join(t.deps.dir, 'piot-app-eth0.nmconnection')).mode & 0o777).toBe(0o600);
    // An `up` failure does not decide: the check does.
    expect(t.calls).toEqual(['reload', 'up piot-app-eth0', 'check']);
    expect(existsSync(t.deps.trialPath)).toBe(false);
  });

  it('does nothing when the keyfiles on disk are the desired ones', async () => {
    const t = setup({ reachable: () => true });
    expect(await applyNetwork(t.deps, OLD, { commit: 'c1', timeoutMs: 30_000 })).toBeUndefined();
    expect(t.calls).toEqual([]);
    expect(existsSync(t.deps.trialPath)).toBe(false);
  });

  it('restores the previous files exactly when the repository stays unreachable', async () => {
    const t = setup({ reachable: (files) => !files.includes('piot-app-eth0.nmconnection') });
    const started = t.clock.now;
    t.deps.nm.up = (c) => {
      t.calls.push(`up ${'id' in c ? c.id : c.uuid}`);
      // The broken connection took the device's only link away.
      if ('id' in c) t.dropActive();
      return Promise.resolve(undefined);
    };
    const outcome = await applyNetwork(t.deps, NEW, { commit: 'c2', timeoutMs: 30_000 });
    expect(outcome?.result).toBe('reverted');
    expect(outcome?.reason).toMatch(/not reachable within 30 s \(fatal: unable to access origin\)/);
    expect(t.clock.now - started).toBeGreaterThanOrEqual(28_000);
    expect(t.files()).toEqual({ ...FOREIGN, ...OLD });
    expect(t.calls.filter((c) => c === 'check').length).toBeGreaterThan(5);
    // Reverted: the old PioT connection up again, and the wired link that went down.
    expect(t.calls.slice(-4)).toEqual(['check', 'reload', 'up piot-app-wifi-lab', 'up u-wired']);
    expect(existsSync(t.deps.trialPath)).toBe(false);
  });

  it('gives a check that hangs until the deadline, then reverts', async () => {
    const t = setup({ reachable: () => true });
    t.deps.check = () => new Promise(() => undefined);
    t.deps.now = () => Date.now();
    const outcome = await applyNetwork(t.deps, NEW, { commit: 'c3', timeoutMs: 300 });
    expect(outcome?.reason).toMatch(/no answer within 0 s/);
    expect(t.files()).toEqual({ ...FOREIGN, ...OLD });
  });
});

describe('recoverNetwork', () => {
  it('restores the previous files when a reboot came in the middle of a trial', async () => {
    const t = setup({ reachable: () => true });
    let cut = false;
    t.deps.check = () => {
      cut = true;
      throw new Error('power cut');
    };
    await expect(applyNetwork(t.deps, NEW, { commit: 'c4', timeoutMs: 30_000 })).rejects.toThrow(
      'power cut',
    );
    expect(cut).toBe(true);
    expect(t.files()).toEqual({ ...FOREIGN, ...NEW });
    const record = JSON.parse(readFileSync(t.deps.trialPath, 'utf8')) as { previous: object };
    expect(record.previous).toEqual(OLD);

    t.calls.length = 0;
    const outcome = await recoverNetwork(t.deps);
    expect(outcome).toMatchObject({ result: 'reverted', commit: 'c4' });
    expect(outcome?.reason).toMatch(/restarted during the network trial/);
    expect(t.files()).toEqual({ ...FOREIGN, ...OLD });
    expect(t.calls).toEqual(['reload', 'up piot-app-wifi-lab']);
    expect(existsSync(t.deps.trialPath)).toBe(false);
    expect(await recoverNetwork(t.deps)).toBeUndefined();
  });

  it('asks the device to connect when the profile that was active is gone after the reboot', async () => {
    const t = setup({ reachable: () => true });
    t.deps.check = () => Promise.reject(new Error('power cut'));
    t.deps.sleep = () => Promise.reject(new Error('power cut'));
    await expect(applyNetwork(t.deps, NEW, { commit: 'c5', timeoutMs: 30_000 })).rejects.toThrow();
    // NetworkManager's own "Wired connection 1" lived in /run: a reboot took it away.
    t.dropProfiles();
    t.calls.length = 0;
    expect(await recoverNetwork(t.deps)).toMatchObject({ result: 'reverted', commit: 'c5' });
    expect(t.calls).toEqual(['reload', 'up piot-app-wifi-lab', 'connect eth0']);
  });

  it('does nothing without a trial record', async () => {
    const t = setup({ reachable: () => true });
    expect(await recoverNetwork(t.deps)).toBeUndefined();
    expect(t.calls).toEqual([]);
    expect(t.files()).toEqual({ ...FOREIGN, ...OLD });
  });
});
