import type { Command } from 'commander';
import { loadState } from '../../agent/state.js';
import { UserError } from '../../errors.js';
import { run, startBackground } from '../../sys/process.js';
import { createSystemd } from '../../sys/systemd.js';
import { closest } from '../../spec/suggest.js';
import type { CliContext } from '../context.js';

export function registerLogs(program: Command, ctx: CliContext): void {
  program
    .command('logs [service]')
    .description("the app's logs from the journal (one service, or all of them)")
    .option('-n, --lines <count>', 'how many recent lines', '50')
    .option('-f, --follow', 'keep printing new lines')
    .option('--json', 'journal entries as JSON, one per line')
    .option('--state <file>', 'the state file', '/var/lib/piot/state.json')
    .addHelpText(
      'after',
      `
Examples:
  piot logs
  piot logs web -f
  piot logs web --lines 200 --json`,
    )
    .action(
      async (
        service: string | undefined,
        options: { lines: string; follow?: boolean; json?: boolean; state: string },
      ) => {
        const state = await loadState(options.state);
        if (!state.app)
          throw new UserError('nothing is deployed on this device yet', { hint: 'piot status' });
        const units = Object.keys(await createSystemd().installedUnits(`piot-${state.app}-`));
        const names = units
          .filter((u) => u.endsWith('.service'))
          .map((u) => u.slice(`piot-${state.app}-`.length, -'.service'.length));
        if (service && !names.includes(service)) {
          const near = closest(service, names);
          throw new UserError(`${state.app} has no service or job "${service}" on this device`, {
            hint: near ? `did you mean "${near}"?` : `known: ${names.join(', ') || 'none'}`,
          });
        }
        const selected = service ? [`piot-${state.app}-${service}.service`] : units;
        if (!/^\d+$/.test(options.lines))
          throw new UserError(`--lines ${options.lines} is not a number`, { exitCode: 2 });
        const args = [
          ...selected.flatMap((u) => ['--unit', u]),
          '--lines',
          options.lines,
          '--no-pager',
          '--output',
          options.json ? 'json' : 'short-iso',
        ];
        if (options.follow) {
          const journal = startBackground('journalctl', [...args, '--follow'], {
            stdio: ['ignore', 'inherit', 'inherit'],
          });
          await journal.exited;
          return;
        }
        const result = await run('journalctl', args);
        if (result.code !== 0) throw new UserError(`journalctl failed: ${result.stderr.trim()}`);
        ctx.out(result.stdout);
      },
    );
}
