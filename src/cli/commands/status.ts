import type { Command } from 'commander';
import { loadState } from '../../agent/state.js';
import { colors, type CliContext } from '../context.js';

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('the running release and the last deploy on this device')
    .option('--state <file>', 'the state file', '/var/lib/piot/state.json')
    .option('--json', 'print the state as JSON')
    .addHelpText(
      'after',
      `
Examples:
  piot status
  piot status --json`,
    )
    .action(async (options: { state: string; json?: boolean }) => {
      const c = colors(ctx);
      const state = await loadState(options.state);
      if (options.json) {
        ctx.out(`${JSON.stringify(state, null, 2)}\n`);
        return;
      }
      ctx.out(`release   ${state.current ?? 'none deployed yet'}\n`);
      if (state.previous) ctx.out(`previous  ${state.previous}\n`);
      if (state.pending)
        ctx.out(
          `${c.yellow('pending')}   ${state.pending.commit} (since ${state.pending.startedAt})\n`,
        );
      const last = state.lastDeploy;
      if (last) {
        const mark =
          last.kind === 'succeeded'
            ? c.green(last.kind)
            : last.kind === 'started'
              ? last.kind
              : c.red(last.kind);
        ctx.out(`last      ${mark} ${last.commit.slice(0, 12)} at ${last.at}\n`);
        if (last.reason) ctx.out(`${last.reason.replace(/^/gm, '          ')}\n`);
      }
    });
}
