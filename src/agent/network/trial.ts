import { readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { syncDir, writeFileAtomic } from '../../sys/fs.js';
import {
  readKeyfiles,
  removeKeyfile,
  writeKeyfile,
  type NetworkManager,
} from '../../sys/network-manager.js';
import { isoTime } from '../../sys/time.js';
import type { NetworkOutcome } from '../state.js';
import { connectionId, describeNetworkPlan, planNetwork, type NetworkStep } from './plan.js';
import { NETWORK_PREFIX, type Keyfiles } from './render.js';

/** What applying a network change needs (tests: a fake NetworkManager, temp dirs, a fake clock). */
export interface NetworkDeps {
  nm: NetworkManager;
  /** NetworkManager's keyfile directory. */
  dir: string;
  /** The trial record (/var/lib/piot/network/trial.json). */
  trialPath: string;
  /** Resolves when the device reaches its repository; rejects (with why) when it does not. */
  check: () => Promise<void>;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
  log: (message: string) => void;
}

const trialSchema = z.object({
  version: z.literal(1),
  commit: z.string(),
  startedAt: z.string(),
  deadline: z.string(),
  /** The PioT-owned keyfiles before the trial, restored exactly on revert. */
  previous: z.record(z.string(), z.string()),
  /** Connections active before the trial, brought up again on revert if they went down. */
  active: z.array(z.object({ uuid: z.string(), device: z.string(), name: z.string() })),
});
type Trial = z.output<typeof trialSchema>;

const RETRY_MS = 2_000;

/** Resolves with `undefined` on success or the failure's message, giving up after `ms`. */
async function attempt(check: () => Promise<void>, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${Math.round(ms / 1000)} s`), ms);
  });
  try {
    return await Promise.race([
      check().then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function applySteps(deps: NetworkDeps, steps: NetworkStep[]): Promise<void> {
  for (const step of steps) {
    if (step.action === 'write') await writeKeyfile(deps.dir, step.name, step.content);
    else await removeKeyfile(deps.dir, step.name);
  }
}

/**
 * Puts the PioT-owned keyfiles back as the trial record holds them, reloads, brings up what
 * changed and any connection that was active before and is not now, then drops the record.
 */
async function revert(deps: NetworkDeps, trial: Trial): Promise<void> {
  const steps = planNetwork(await readKeyfiles(deps.dir, NETWORK_PREFIX), trial.previous);
  deps.log(`restoring the previous network connections:\n${describeNetworkPlan(steps)}`);
  await applySteps(deps, steps);
  await deps.nm.reload();
  for (const step of steps) {
    if (step.action !== 'write') continue;
    const failed = await deps.nm.up({ id: connectionId(step.name) }, 30);
    if (failed) deps.log(`bringing up ${connectionId(step.name)}: ${failed}`);
  }
  const now = await deps.nm.connections().catch(() => []);
  for (const was of trial.active) {
    if (now.some((c) => c.uuid === was.uuid && c.active)) continue;
    // A profile NetworkManager made itself ("Wired connection 1") may be gone after a
    // reboot: then the device is asked to connect, which makes one again.
    const failed = now.some((c) => c.uuid === was.uuid)
      ? await deps.nm.up({ uuid: was.uuid, device: was.device }, 30)
      : await deps.nm.connectDevice(was.device, 30);
    deps.log(`bringing ${was.name} up again on ${was.device}${failed ? `: ${failed}` : ''}`);
  }
  await dropTrial(deps.trialPath);
}

async function dropTrial(path: string): Promise<void> {
  await rm(path, { force: true });
  await syncDir(dirname(path)).catch(() => undefined);
}

/**
 * Changes the PioT-owned keyfiles to `desired` on trial: records the previous files and a
 * deadline (durably, so a reboot mid-trial is undone by `recoverNetwork`), writes the new
 * files, reloads, brings changed connections up, then checks that the repository is
 * reachable until `timeoutMs`. Reachable: the change stays. Not: the previous files are
 * restored. Undefined when nothing differs from disk (nothing is touched).
 */
export async function applyNetwork(
  deps: NetworkDeps,
  desired: Keyfiles,
  options: { commit: string; timeoutMs: number },
): Promise<NetworkOutcome | undefined> {
  const onDisk = await readKeyfiles(deps.dir, NETWORK_PREFIX);
  const steps = planNetwork(onDisk, desired);
  if (steps.length === 0) return undefined;
  const started = deps.now();
  const deadline = started + options.timeoutMs;
  const active = (await deps.nm.connections().catch(() => []))
    .filter((c) => c.active)
    .map(({ uuid, device, name }) => ({ uuid, device, name }));
  const trial: Trial = {
    version: 1,
    commit: options.commit,
    startedAt: isoTime(started),
    deadline: isoTime(deadline),
    previous: onDisk,
    active,
  };
  await writeFileAtomic(deps.trialPath, `${JSON.stringify(trial, null, 2)}\n`, { mode: 0o600 });
  deps.log(
    `changing the network on trial (reverted unless the repository is reachable by ${trial.deadline}):\n` +
      describeNetworkPlan(steps),
  );
  await applySteps(deps, steps);
  await deps.nm.reload();
  for (const step of steps) {
    if (step.action !== 'write') continue;
    const wait = Math.min(60, Math.max(1, (deadline - deps.now()) / 1000));
    // A connection that does not come up is not an error by itself: the check decides.
    const failed = await deps.nm.up({ id: connectionId(step.name) }, wait);
    if (failed) deps.log(`bringing up ${connectionId(step.name)}: ${failed}`);
  }
  let why: string | undefined = 'the check did not run';
  for (;;) {
    const left = deadline - deps.now();
    if (left <= 0) break;
    why = await attempt(deps.check, left);
    if (why === undefined) break;
    if (deadline - deps.now() > RETRY_MS) await deps.sleep(RETRY_MS);
    else break;
  }
  const seconds = ((deps.now() - started) / 1000).toFixed(1);
  if (why === undefined) {
    await dropTrial(deps.trialPath);
    deps.log(`the network change is kept: the repository answered after ${seconds} s`);
    return { result: 'applied', at: isoTime(deps.now()), commit: options.commit };
  }
  const reason = `the repository was not reachable within ${Math.round(options.timeoutMs / 1000)} s (${why.split('\n')[0]}); the previous connections were restored`;
  deps.log(`network change of ${options.commit.slice(0, 12)} reverted: ${reason}`);
  await revert(deps, trial);
  return { result: 'reverted', at: isoTime(deps.now()), commit: options.commit, reason };
}

/**
 * Called first when the agent starts: a trial record still there means a network change was
 * never confirmed (a reboot or crash came first), so the previous connections come back.
 */
export async function recoverNetwork(deps: NetworkDeps): Promise<NetworkOutcome | undefined> {
  let text: string;
  try {
    text = await readFile(deps.trialPath, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: ReturnType<typeof trialSchema.safeParse> | undefined;
  try {
    parsed = trialSchema.safeParse(JSON.parse(text));
  } catch {
    parsed = undefined;
  }
  if (!parsed?.success) {
    // Written atomically, so this is not a half-written record; nothing safe can be restored.
    deps.log(`the network trial record ${deps.trialPath} cannot be read; removing it`);
    await dropTrial(deps.trialPath);
    return undefined;
  }
  const trial = parsed.data;
  const reason = `the agent restarted during the network trial (started ${trial.startedAt}) before the repository was reached; the previous connections were restored`;
  deps.log(`network change of ${trial.commit.slice(0, 12)} not confirmed: ${reason}`);
  await revert(deps, trial);
  return { result: 'reverted', at: isoTime(deps.now()), commit: trial.commit, reason };
}
