import type { Command } from 'commander';
import { agentCycles, runAgent } from '../../agent/agent.js';
import { startDeviceReporter } from '../../agent/hub/device.js';
import { defaultCollectorContext } from '../../agent/collectors/index.js';
import { sharedLooks } from '../../agent/collectors/shared.js';
import { loadDeviceFile } from '../../agent/config.js';
import { sync } from '../../agent/deploy.js';
import { startAgentMetrics } from '../../agent/metrics-endpoint.js';
import { UserError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { addDeviceOptions, deviceDeps, type DeviceOptions } from '../device-options.js';

export function registerAgent(program: Command, ctx: CliContext): void {
  addDeviceOptions(
    program
      .command('agent')
      .description(
        'follow the app repository and run it as systemd services (runs as root on the device)',
      ),
  )
    .option('--once', 'one sync and deploy, then exit')
    .option('--interval <duration>', 'time between polls, e.g. 30s (default: the device file)')
    .addHelpText(
      'after',
      `
The repository, branch and device name come from /etc/piot/device.yaml unless given.

Examples:
  piot agent
  piot agent --once
  piot agent --repo https://git.example.com/app.git --device kitchen --interval 10s`,
    )
    .action(async (options: DeviceOptions & { once?: boolean }) => {
      const log = (message: string) => ctx.err(`${message}\n`);
      const { deps, pollMs } = await deviceDeps(options, log);
      const file = options.repo ? undefined : await loadDeviceFile(options.config);
      const looks = sharedLooks(defaultCollectorContext(), {
        onError: (name, error) => log(`metrics: ${name}: ${String(error)}`),
      });
      const metrics = options.once
        ? undefined
        : await startAgentMetrics(file?.metrics, { looks, log });
      const cycles = agentCycles();
      const reporter =
        options.once || !file?.hub
          ? undefined
          : await startDeviceReporter({
              url: file.hub.url,
              device: deps.device,
              cycles,
              metrics: file.metrics,
              looks,
              log,
            });
      try {
        await runAgent(deps, {
          pollMs,
          once: options.once,
          out: (line) => ctx.out(`${line}\n`),
          cycles,
        });
      } finally {
        await reporter?.stop();
        await metrics?.close();
      }
    });

  addDeviceOptions(
    program
      .command('fetch')
      .description("fetch the app repository into the device's mirror and print what it would run"),
  )
    .addHelpText(
      'after',
      `
Examples:
  piot fetch`,
    )
    .action(async (options: DeviceOptions) => {
      const { deps } = await deviceDeps(options, (m) => ctx.err(`${m}\n`));
      const commit = await sync(deps.git, deps.follow);
      if (!commit) {
        throw new UserError('the repository has nothing this device follows', {
          hint: 'check the branch (or tag pattern) in the device file',
        });
      }
      ctx.out(`${commit}\n`);
    });
}
