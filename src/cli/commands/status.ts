import type { Command } from 'commander';
import { describeOutcome, readCycle } from '../../agent/cycle-record.js';
import { loadState } from '../../agent/state.js';
import { createSystemd } from '../../sys/systemd.js';
import { colors, deployKindColor, type CliContext } from '../context.js';

interface ServiceStatus {
  unit: string;
  active: string;
  pid: number;
}

async function services(app: string | undefined): Promise<ServiceStatus[]> {
  if (!app) return [];
  const systemd = createSystemd();
  const units = await systemd.installedUnits(`piot-${app}-`).catch(() => ({}));
  const list: ServiceStatus[] = [];
  for (const unit of Object.keys(units)) {
    const status = await systemd.status(unit).catch(() => ({ active: 'unknown', pid: 0 }));
    list.push({ unit, ...status });
  }
  return list;
}

export function registerStatus(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('the running release, its services and the last deploy on this device')
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
      const units = await services(state.app);
      const cycle = await readCycle();
      if (options.json) {
        ctx.out(
          `${JSON.stringify({ ...state, services: units, agent: cycle ?? null }, null, 2)}\n`,
        );
        return;
      }
      ctx.out(`app       ${state.app ?? '-'}\n`);
      ctx.out(`release   ${state.current ?? 'none deployed yet'}\n`);
      if (state.previous) ctx.out(`previous  ${state.previous}\n`);
      if (state.pending)
        ctx.out(
          `${c.yellow('pending')}   ${state.pending.commit} (since ${state.pending.startedAt})\n`,
        );
      const last = state.lastDeploy;
      if (last) {
        const mark = deployKindColor(last.kind, c)?.(last.kind) ?? last.kind;
        ctx.out(`last      ${mark} ${last.commit.slice(0, 12)} at ${last.at}\n`);
        if (last.reason) ctx.out(`${last.reason.replace(/^/gm, '          ')}\n`);
      }
      if (state.network) {
        const n = state.network;
        const mark = n.result === 'applied' ? c.green(n.result) : c.red(n.result);
        ctx.out(`network   ${mark} ${n.commit.slice(0, 12)} at ${n.at}\n`);
        if (n.reason) ctx.out(`${n.reason.replace(/^/gm, '          ')}\n`);
      }
      if (state.badCommits.length > 0)
        ctx.out(`bad       ${state.badCommits.map((b) => b.slice(0, 12)).join(' ')}\n`);
      if (cycle) {
        const what = cycle.outcome ? describeOutcome(cycle.outcome) : `error: ${cycle.error}`;
        ctx.out(`agent     ${cycle.at}: ${what}\n`);
      }
      for (const unit of units) {
        const active = unit.active === 'active' ? c.green(unit.active) : unit.active;
        ctx.out(`  ${unit.unit.padEnd(40)} ${active}${unit.pid ? ` pid ${unit.pid}` : ''}\n`);
      }
    });
}
