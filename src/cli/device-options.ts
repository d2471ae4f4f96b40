import { Option, type Command } from 'commander';
import { agentConfig, DEVICE_FILE, KNOWN_HOSTS, loadDeviceFile } from '../agent/config.js';
import type { DeployDeps, Follow } from '../agent/deploy.js';
import { createGit } from '../sys/git.js';
import { createSystemd } from '../sys/systemd.js';
import { parseDuration } from '../spec/duration.js';
import { UserError } from '../errors.js';

/** Options shared by the device commands; the device file supplies what is not given. */
export interface DeviceOptions {
  config: string;
  repo?: string;
  branch?: string;
  tags?: string;
  device?: string;
  interval?: string;
  root: string;
  state: string;
  mirror: string;
  unitDir: string;
}

/** Adds the shared options; the rarely needed ones are hidden from --help. */
export function addDeviceOptions(command: Command): Command {
  return command
    .option('--config <file>', 'the device file', DEVICE_FILE)
    .option('--repo <url>', 'the application repository (instead of the device file)')
    .option('--branch <name>', 'the branch to follow (default main)')
    .option('--tags <pattern>', 'follow the newest tag matching this pattern, e.g. "v*"')
    .option('--device <name>', 'this device in .piot/fleet.yaml')
    .addOption(
      new Option('--root <dir>', 'root for /opt/piot and /run/piot').default('/').hideHelp(),
    )
    .option('--state <file>', 'the state file', '/var/lib/piot/state.json')
    .addOption(
      new Option('--mirror <dir>', 'the local mirror of the repository')
        .default('/var/lib/piot/repo.git')
        .hideHelp(),
    )
    .addOption(
      new Option('--unit-dir <dir>', 'where units are written')
        .default('/etc/systemd/system')
        .hideHelp(),
    );
}

/** The deploy dependencies for these options (flags win over the device file). */
export async function deviceDeps(
  options: DeviceOptions,
  log: (message: string) => void,
): Promise<{ deps: DeployDeps; pollMs: number }> {
  const file = options.repo ? undefined : agentConfig(await loadDeviceFile(options.config));
  const repo = options.repo ?? file?.repo;
  const device = options.device ?? file?.device;
  if (!repo || !device) {
    throw new UserError('no repository or device name', {
      hint: `write ${DEVICE_FILE} or give --repo URL --device NAME`,
      exitCode: 2,
    });
  }
  if (options.branch && options.tags)
    throw new UserError('give either --branch or --tags', { exitCode: 2 });
  const follow: Follow = options.tags
    ? { tags: options.tags }
    : options.branch
      ? { branch: options.branch }
      : (file?.follow ?? { branch: 'main' });
  const pollMs = options.interval
    ? (parseDuration(/^\d+$/.test(options.interval) ? `${options.interval}s` : options.interval) ??
      NaN)
    : (file?.pollMs ?? 30_000);
  if (!Number.isFinite(pollMs) || pollMs < 1000)
    throw new UserError(`--interval ${options.interval} is not a duration of 1s or more`, {
      exitCode: 2,
    });
  return {
    pollMs,
    deps: {
      // The device's repository over SSH: its deploy key, and host keys pinned in a fixed file.
      git: createGit({
        url: repo,
        mirror: options.mirror,
        ...(file ? { ssh: { key: file.deployKey, knownHosts: KNOWN_HOSTS } } : {}),
      }),
      systemd: createSystemd(options.unitDir),
      device,
      follow,
      root: options.root,
      statePath: options.state,
      log,
    },
  };
}
