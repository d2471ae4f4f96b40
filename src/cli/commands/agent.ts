import type { Command } from 'commander';
import { hostname } from 'node:os';
import { deployOnce, type DeployOutcome } from '../../agent/deploy.js';
import { UserError } from '../../errors.js';
import { createGit } from '../../sys/git.js';
import { createSystemd } from '../../sys/systemd.js';
import type { CliContext } from '../context.js';

interface AgentOptions {
  repo?: string;
  branch: string;
  device: string;
  once?: boolean;
  interval: string;
  root: string;
  state: string;
  mirror: string;
  unitDir: string;
}

function describe(outcome: DeployOutcome): string {
  switch (outcome.result) {
    case 'no-branch':
      return 'the branch does not exist in the repository';
    case 'up-to-date':
      return `up to date at ${outcome.commit.slice(0, 12)}`;
    case 'invalid':
      return `commit ${outcome.commit.slice(0, 12)} is invalid; the running release stays`;
    case 'deployed':
      return `deployed ${outcome.commit.slice(0, 12)} (${outcome.steps} steps)`;
  }
}

export function registerAgent(program: Command, ctx: CliContext): void {
  program
    .command('agent')
    .description(
      'follow the app repository and run it as systemd services (runs as root on the device)',
    )
    .option('--repo <url>', 'the application repository')
    .option('--branch <name>', 'the branch to follow', 'main')
    .option('--device <name>', 'this device in .piot/fleet.yaml', hostname())
    .option('--once', 'one sync and deploy, then exit')
    .option('--interval <seconds>', 'seconds between polls', '30')
    .option('--root <dir>', 'root for /opt/piot and /run/piot', '/')
    .option('--state <file>', 'the state file', '/var/lib/piot/state.json')
    .option('--mirror <dir>', 'the local mirror of the repository', '/var/lib/piot/repo.git')
    .option('--unit-dir <dir>', 'where units are written', '/etc/systemd/system')
    .addHelpText(
      'after',
      `
Examples:
  piot agent --repo https://git.example.com/app.git --once
  piot agent --repo /srv/app.git --branch production --interval 10`,
    )
    .action(async (options: AgentOptions) => {
      if (!options.repo)
        throw new UserError('--repo is required', { hint: 'piot agent --repo URL', exitCode: 2 });
      const log = (message: string) => ctx.err(`${message}\n`);
      const deps = {
        git: createGit({ url: options.repo, mirror: options.mirror }),
        systemd: createSystemd(options.unitDir),
        device: options.device,
        branch: options.branch,
        root: options.root,
        statePath: options.state,
        log,
      };
      for (;;) {
        try {
          ctx.out(`${describe(await deployOnce(deps))}\n`);
        } catch (error) {
          if (options.once) throw error;
          // The agent keeps the running release and tries again at the next poll.
          log(`deploy cycle failed: ${error instanceof Error ? error.message : String(error)}`);
        }
        if (options.once) return;
        await new Promise((resolve) => setTimeout(resolve, Number(options.interval) * 1000));
      }
    });
}
