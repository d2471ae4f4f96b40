/** Sending a device a command through the hub and waiting for its answer. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CommandRequest } from '../hub/commands.js';
import type { CommandRecord } from '../hub/store/store.js';
import { UserError } from '../errors.js';
import { age, describeCommand, presence } from './fleet-format.js';
import type { HubClient } from './hub-client.js';

/** How long to wait, and how often to ask the hub. */
export interface WaitOptions {
  /** Give up when the device has not answered after this long. */
  timeoutMs: number;
  /** Give up sooner when the device has not even taken the command (it polls every ≤ 30 s). */
  pickupMs?: number;
  now?: () => number;
}

const PICKUP_MS = 60_000;

/** Polls the command until the device has answered; a device that does not is a UserError. */
export async function waitForAnswer(
  client: HubClient,
  device: string,
  queued: CommandRecord,
  options: WaitOptions,
): Promise<CommandRecord> {
  const now = options.now ?? Date.now;
  const started = now();
  const pickupMs = Math.min(options.pickupMs ?? PICKUP_MS, options.timeoutMs);
  let command = queued;
  for (;;) {
    if (command.finishedAt !== undefined) return command;
    const waited = now() - started;
    if (command.deliveredAt === undefined && waited >= pickupMs)
      throw await notTaken(client, device, command);
    if (waited >= options.timeoutMs) throw notAnswered(device, command, now());
    // Quick answers (logs) come within a second or two; long ones (a deploy) need no hurry.
    await sleep(waited < 10_000 ? 500 : 1000);
    command = await client.command(device, command.id);
  }
}

async function notTaken(
  client: HubClient,
  device: string,
  command: CommandRecord,
): Promise<UserError> {
  const { device: record } = await client.device(device);
  const { seen } = presence(record, Date.now());
  return new UserError(`${device} has not answered: is it online? (${seen})`, {
    hint: `the ${describeCommand(command)} command stays queued on the hub: ${device} carries it out when it next asks for commands, and \`piot status ${device}\` shows its answer`,
  });
}

function notAnswered(device: string, command: CommandRecord, now: number): UserError {
  const taken = command.deliveredAt === undefined ? '' : ` ${age(command.deliveredAt, now)} ago`;
  return new UserError(
    `${device} took the ${describeCommand(command)} command${taken} but has not answered yet`,
    { hint: `\`piot status ${device}\` shows its answer when it comes; --timeout waits longer` },
  );
}

/** Queues a command; unless `wait` is false, waits for the device's answer. */
export async function sendCommand(
  client: HubClient,
  device: string,
  request: CommandRequest,
  options: WaitOptions & { wait: boolean; onQueued?: (command: CommandRecord) => void },
): Promise<CommandRecord> {
  const queued = await client.queue(device, request);
  if (!options.wait) return queued;
  options.onQueued?.(queued);
  return waitForAnswer(client, device, queued, options);
}

/** `--timeout SECONDS` as milliseconds; anything but a positive number is a usage error. */
export function parseTimeout(text: string): number {
  const seconds = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || seconds <= 0)
    throw new UserError(`--timeout ${text} is not a number of seconds`, { exitCode: 2 });
  return seconds * 1000;
}
