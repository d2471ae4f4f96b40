import type { Command } from 'commander';
import { networkReport } from '../../agent/network/report.js';
import { createNetworkManager } from '../../sys/network-manager.js';
import { colors, type CliContext } from '../context.js';

export function registerNetwork(program: Command, ctx: CliContext): void {
  program
    .command('network')
    .description("this device's network connections, which are PioT's, and Wi-Fi signal")
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
PIOT is "app" for connections from .piot.yaml's network: section (piot-app-*),
"image" for those piot image configure wrote (piot-*).

Examples:
  piot network
  piot network --json`,
    )
    .action(async (options: { json?: boolean }) => {
      const c = colors(ctx);
      const nm = createNetworkManager();
      const report = networkReport(await nm.connections(), await nm.wifi());
      if (options.json) {
        ctx.out(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      ctx.out(
        `${'NAME'.padEnd(32)} ${'TYPE'.padEnd(16)} ${'DEVICE'.padEnd(10)} ${'PIOT'.padEnd(6)}\n`,
      );
      for (const conn of report.connections) {
        const name = conn.active ? c.green(conn.name.padEnd(32)) : conn.name.padEnd(32);
        ctx.out(
          `${name} ${conn.type.padEnd(16)} ${(conn.device || '-').padEnd(10)} ${conn.piot || '-'}\n`,
        );
      }
      ctx.out(`\nactive    ${report.active.join(', ') || 'none'}\n`);
      const inUse = report.wifi.find((w) => w.inUse);
      if (inUse) ctx.out(`wifi      ${inUse.ssid}, signal ${inUse.signal}%\n`);
      for (const w of report.wifi.filter((x) => !x.inUse))
        ctx.out(`          in range: ${w.ssid} (${w.signal}%)\n`);
    });
}
