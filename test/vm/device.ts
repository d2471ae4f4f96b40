import { basename } from 'node:path';
import { devicePayload } from '../../src/device/payload.js';
import type { VirtualPi } from '../../src/vm/machine.js';

/**
 * Installs PioT's device payload as first boot would (agent bundle, `piot` command, job
 * runner, units) and writes the device file; the bootstrap is not enabled.
 */
export async function installAgent(vm: VirtualPi, deviceFile: string): Promise<void> {
  const payload = devicePayload();
  for (const f of payload) await vm.copyTo(f.source, `/tmp/${basename(f.path)}`);
  await vm.sh(
    [
      ...payload.map(
        (f) => `sudo install -D -m ${f.mode.toString(8)} /tmp/${basename(f.path)} ${f.path}`,
      ),
      'sudo install -d -m 0755 /etc/piot',
      'sudo tee /etc/piot/device.yaml >/dev/null',
      'sudo systemctl daemon-reload',
    ].join(' && '),
    { input: deviceFile },
  );
}

/**
 * An app repository inside the VM that tests commit to; each commit is synced to disk,
 * as a commit on a real server would survive the Pi's power cut. Owned by root, like the agent,
 * because git refuses repositories of other users (safe.directory).
 */
export async function guestRepo(vm: VirtualPi, dir = '/srv/app') {
  await vm.sh(`sudo mkdir -p ${dir} && cd ${dir} && sudo git init -q -b main`);
  return async (files: Record<string, string>, message = 'change'): Promise<string> => {
    for (const [name, text] of Object.entries(files)) {
      await vm.sh(
        `sudo mkdir -p "$(dirname ${dir}/${name})" && sudo tee ${dir}/${name} >/dev/null`,
        {
          input: text,
        },
      );
    }
    await vm.sh(
      `cd ${dir} && sudo git add -A && sudo git -c user.name=t -c user.email=t@t commit -q --allow-empty -m '${message}' && sync`,
    );
    return (await vm.sh(`sudo git -C ${dir} rev-parse HEAD`)).trim();
  };
}

/** The agent's state file and its record of the last cycle, as `piot status --json` shows them. */
export interface DeviceState {
  current?: string;
  pending?: unknown;
  badCommits: string[];
  lastDeploy?: { kind: string; commit: string; reason?: string };
  network?: { result: string; commit: string; reason?: string };
  agent: { at: string; outcome?: { result: string } } | null;
}

/** The device's state as `piot status --json` prints it. */
export async function deviceStatus(
  vm: VirtualPi,
): Promise<DeviceState & { services: { unit: string; active: string; pid: number }[] }> {
  return JSON.parse(await vm.sh('sudo piot status --json')) as never;
}

/**
 * The same state read straight from the agent's files, for polling: `piot status` starts
 * Node.js, which takes seconds under emulation and slows the agent a test is waiting for.
 * Tests wait on this, then check what `piot status` says.
 */
export async function deviceState(vm: VirtualPi): Promise<DeviceState> {
  const out = await vm.sh(
    "sudo sh -c 'cat /var/lib/piot/state.json 2>/dev/null || echo {}; echo; echo @@; cat /run/piot/agent.json 2>/dev/null || true'",
  );
  const [state = '{}', cycle = ''] = out.split('\n@@\n');
  const parsed = JSON.parse(state) as Partial<DeviceState>;
  return {
    ...parsed,
    badCommits: parsed.badCommits ?? [],
    agent: cycle.trim() ? (JSON.parse(cycle) as DeviceState['agent']) : null,
  };
}

/** What to print when a device does not settle: its status and the agent's journal. */
export async function deviceReport(vm: VirtualPi): Promise<string> {
  const result = await vm.ssh(
    'sudo piot status; sudo journalctl -b -u piot-agent --no-pager | tail -40; sudo git -C /srv/app log --oneline | head -3',
  );
  return `${result.stdout}${result.stderr}`;
}
