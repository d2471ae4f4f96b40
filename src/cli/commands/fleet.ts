import type { Command } from 'commander';
import type { CommandRequest } from '../../hub/commands.js';
import type { CommandRecord } from '../../hub/store/store.js';
import { ExitCode, UserError } from '../../errors.js';
import { colors, type CliContext } from '../context.js';
import { parseTimeout, sendCommand } from '../fleet-command.js';
import { describeCommand, devicesTable, deviceStatus } from '../fleet-format.js';
import { hubClient, type HubClient } from '../hub-client.js';
import { requireHub } from '../hub-config.js';

interface HubOptions {
  hub?: string;
  json?: boolean;
}

interface WaitingOptions extends HubOptions {
  wait: boolean;
  timeout: string;
}

const WHERE = `
This piot asks the hub: --hub URL, else $PIOT_HUB, else the hub \`piot hub login\`
saved in ~/.config/piot/hub.yaml; the API token is $PIOT_HUB_API_TOKEN, else the saved one.
On a Pi, the device's own piot has \`piot status\`, \`piot logs [SERVICE]\`, \`piot run JOB\`
and \`piot deploy --now\` without a DEVICE: they act on that Pi alone, without the hub.`;

function withHub(command: Command): Command {
  return command
    .option('--hub <url>', 'the hub (default: $PIOT_HUB, then `piot hub login`)')
    .option('--json', 'print what the hub answers, as JSON');
}

function withWait(command: Command, seconds: number): Command {
  return withHub(command)
    .option('--no-wait', 'queue the command and return without waiting for the answer')
    .option('--timeout <seconds>', "how long to wait for the device's answer", String(seconds));
}

async function client(ctx: CliContext, options: HubOptions): Promise<HubClient> {
  return hubClient(await requireHub(ctx.env, options.hub));
}

/** Queues the request, waits unless --no-wait, and prints a queued command or the JSON answer. */
async function send(
  ctx: CliContext,
  device: string,
  request: CommandRequest,
  options: WaitingOptions,
  progress: boolean,
): Promise<CommandRecord | undefined> {
  const hub = await client(ctx, options);
  const timeoutMs = parseTimeout(options.timeout);
  const command = await sendCommand(hub, device, request, {
    wait: options.wait,
    timeoutMs,
    onQueued: (queued) => {
      if (progress && !options.json)
        ctx.err(
          `${describeCommand(queued)} queued for ${device}; waiting for its answer (up to ${timeoutMs / 1000} s)…\n`,
        );
    },
  });
  if (options.json) ctx.out(`${JSON.stringify({ command }, null, 2)}\n`);
  else if (!options.wait)
    ctx.out(
      `queued ${describeCommand(command)} for ${device} (command ${command.id}); \`piot status ${device}\` shows its answer\n`,
    );
  if (!options.wait) return undefined;
  if (options.json && !command.result?.ok) throw new ExitCode(1);
  return options.json ? undefined : command;
}

/** Prints the answer's message and output lines (indented when `indent`). */
function printAnswer(ctx: CliContext, command: CommandRecord, indent: boolean): void {
  const result = command.result!;
  if (result.message) ctx.out(`${result.message}\n`);
  for (const line of result.output ?? []) ctx.out(indent ? `    | ${line}\n` : `${line}\n`);
}

/** The fleet commands of the developer's `piot`: devices and their commands, through the hub. */
export function registerFleet(program: Command, ctx: CliContext): void {
  withHub(program.command('devices'))
    .description('the devices the hub knows: online or not, release, last deploy, health')
    .addHelpText('after', `${WHERE}\n\nExamples:\n  piot devices\n  piot devices --json`)
    .action(async (options: HubOptions) => {
      const { devices } = await (await client(ctx, options)).devices();
      if (options.json) ctx.out(`${JSON.stringify({ devices }, null, 2)}\n`);
      else ctx.out(devicesTable(devices, Date.now(), colors(ctx)));
    });

  withHub(program.command('status'))
    .description('one device through the hub: summary, health, services, deploys and job runs')
    .argument('<device>', 'the device, as the hub names it')
    .addHelpText(
      'after',
      `${WHERE}\n\nExamples:\n  piot status kitchen\n  piot status kitchen --json`,
    )
    .action(async (device: string, options: HubOptions) => {
      const detail = await (await client(ctx, options)).device(device);
      if (options.json) ctx.out(`${JSON.stringify(detail, null, 2)}\n`);
      else ctx.out(deviceStatus(detail, Date.now(), colors(ctx)));
    });

  withWait(program.command('logs'), 60)
    .description("the last lines of a device's journal: one service's, or its agent's")
    .argument('<device>', 'the device, as the hub names it')
    .argument('[service]', "a service or job of the running release (default: PioT's agent)")
    .option('-n, --lines <count>', 'how many recent lines (at most 1000)', '50')
    .addHelpText(
      'after',
      `${WHERE}\n\nExamples:\n  piot logs kitchen\n  piot logs kitchen web -n 200`,
    )
    .action(
      async (
        device: string,
        service: string | undefined,
        options: WaitingOptions & { lines: string },
      ) => {
        const lines = Number(options.lines);
        if (!/^\d+$/.test(options.lines) || lines < 1 || lines > 1000)
          throw new UserError(`--lines ${options.lines} is not a number from 1 to 1000`, {
            exitCode: 2,
          });
        const request: CommandRequest = { kind: 'logs', lines, ...(service ? { service } : {}) };
        const command = await send(ctx, device, request, options, false);
        if (!command) return;
        if (!command.result!.ok)
          throw new UserError(
            `${device} could not read its logs: ${command.result!.message ?? ''}`,
          );
        for (const line of command.result!.output ?? []) ctx.out(`${line}\n`);
      },
    );

  withWait(program.command('run'), 900)
    .description('run a job on a device now and wait for it; exits 1 when it fails')
    .argument('<device>', 'the device, as the hub names it')
    .argument('<job>', 'the job, as named in .piot.yaml')
    .addHelpText('after', `${WHERE}\n\nExamples:\n  piot run kitchen backup`)
    .action(async (device: string, job: string, options: WaitingOptions) => {
      const command = await send(ctx, device, { kind: 'run-job', job }, options, true);
      if (!command) return;
      printAnswer(ctx, command, true);
      if (!command.result!.ok)
        throw new UserError(`job ${job} did not succeed on ${device}`, {
          hint: `piot status ${device} lists its recent job runs`,
        });
    });

  withWait(program.command('deploy'), 900)
    .description("have a device deploy its repository's latest commit now")
    .argument('<device>', 'the device, as the hub names it')
    .option('--now', 'do not wait for the next poll (the default for this command)')
    .addHelpText(
      'after',
      `${WHERE}\nThe device answers when its deploy has ended; exit status 1 when it failed.\n\nExamples:\n  piot deploy kitchen --now\n  piot deploy kitchen --now --no-wait`,
    )
    .action(async (device: string, options: WaitingOptions) => {
      const command = await send(ctx, device, { kind: 'deploy' }, options, true);
      if (!command) return;
      printAnswer(ctx, command, false);
      if (!command.result!.ok) throw new ExitCode(1);
    });

  withWait(program.command('reboot'), 60)
    .description('restart a device')
    .argument('<device>', 'the device, as the hub names it')
    .addHelpText('after', `${WHERE}\n\nExamples:\n  piot reboot kitchen`)
    .action(async (device: string, options: WaitingOptions) => {
      const command = await send(ctx, device, { kind: 'reboot' }, options, true);
      if (!command) return;
      printAnswer(ctx, command, false);
      if (!command.result!.ok) throw new ExitCode(1);
    });
}
