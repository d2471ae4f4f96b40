import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Git } from '../sys/git.js';
import { exists } from '../sys/fs.js';
import { run } from '../sys/process.js';
import { ensureSystemUser, type Systemd } from '../sys/systemd.js';
import { isoTime } from '../sys/time.js';
import type { PiotYaml } from '../spec/schema.js';
import { applyStep } from './apply.js';
import { gatedServices, healthGate, type HealthDeps } from './health.js';
import { runHealthCheck } from './health-check.js';
import { describePlan, planDeploy, type Step, type UnitFiles } from './plan.js';
import { releaseConfig, releaseConfigOnDisk } from './release.js';
import { desiredUnits, deviceIdentity } from './render.js';
import {
  AGE_KEY_FILE,
  changedSecretEnvs,
  pruneSecretEnvs,
  releaseSecretEnvs,
  SecretError,
} from './secrets.js';
import { deployNetwork, recoverNetworkState } from './network/deploy.js';
import { desiredNetwork, type Keyfiles } from './network/render.js';
import type { NetworkDeps } from './network/trial.js';
import { runSetup } from './setup.js';
import { loadState, saveState, withEvent, type AgentState } from './state.js';
import { appPaths, appUser, unitName } from './units.js';

/** What the device follows: a branch, or the newest tag matching a pattern. */
export type Follow = { branch: string } | { tags: string };

/** What a deploy cycle needs from the device. */
export interface DeployDeps {
  git: Git;
  systemd: Systemd;
  device: string;
  follow: Follow;
  /** Host root for /opt/piot and /run/piot (tests: a temp dir; units still go to systemd). */
  root: string;
  statePath: string;
  log: (message: string) => void;
  /** Replaces parts of the health gate (tests). */
  health?: Partial<HealthDeps>;
  /** Makes everything written so far durable (default: sync(1)). */
  sync?: () => Promise<void>;
  /** The device's age identity for secrets (default /etc/piot/identity/age.key). */
  ageKeyFile?: string;
  /** Replaces parts of the network trial: NetworkManager, the check, the clock (tests). */
  network?: Partial<NetworkDeps>;
  /** Whether the agent has been asked to stop (the device may be shutting down). */
  stopping?: () => boolean;
}

/** What a cycle did. */
export type DeployOutcome =
  | { result: 'up-to-date'; commit: string }
  | {
      result: 'deployed';
      commit: string;
      steps: number;
      healthyMs: number;
      /** Set when the release changed the network: kept, or reverted (the release stays). */
      network?: { result: 'applied' | 'reverted'; reason?: string };
    }
  | { result: 'invalid'; commit: string; problems: string[] }
  | { result: 'bad'; commit: string }
  | { result: 'failed'; commit: string; reason: string }
  | { result: 'rolled-back'; commit: string; to: string | undefined; reason: string }
  /** The agent was stopped while the release's health gate ran; the next start judges it. */
  | { result: 'interrupted'; commit: string; reason: string }
  | { result: 'no-target' };

const now = () => isoTime();
const short = (commit: string | undefined) => (commit ? commit.slice(0, 12) : 'nothing');
const MAX_BAD = 50;
const MAX_HISTORY = 20;

/** The commit the device should run: the branch head, or the newest matching tag. */
export async function targetCommit(git: Git, follow: Follow): Promise<string | undefined> {
  if ('branch' in follow) return git.branchHead(follow.branch);
  return (await git.newestTag(follow.tags))?.commit;
}

/**
 * Fetches only when the remote moved, and returns the commit the device should run then.
 * A branch head is compared with `git ls-remote` first, so an idle poll is one small
 * request and no object transfer (and the head already read is the answer). A cycle
 * someone asked for (`fetch`: `piot deploy --now`, the hub's deploy) fetches at once: a
 * new commit is what it expects, and the comparison would only delay it.
 */
export async function sync(
  git: Git,
  follow: Follow,
  options: { fetch?: boolean } = {},
): Promise<string | undefined> {
  if ('branch' in follow && !options.fetch) {
    const local = await git.branchHead(follow.branch).catch(() => undefined);
    if (local !== undefined) {
      const remote = await git.remoteHead(`refs/heads/${follow.branch}`);
      if (remote === local) return local;
    }
  }
  await git.fetch();
  return targetCommit(git, follow);
}

/** Units of an app (or of two, while an app is being renamed) installed now. */
async function installedUnits(deps: DeployDeps, apps: (string | undefined)[]): Promise<UnitFiles> {
  const units: UnitFiles = {};
  for (const app of new Set(apps.filter((a): a is string => a !== undefined)))
    Object.assign(units, await deps.systemd.installedUnits(`piot-${app}-`));
  return units;
}

/**
 * Applies the steps and makes them durable. Unit files and `current` reach the disk as they
 * are written; what systemctl links for enable and disable does not, nor what `wrote` says
 * commands wrote before (setup in the release directory, `once: release` jobs).
 */
async function apply(deps: DeployDeps, app: string, steps: Step[], wrote = false): Promise<void> {
  const { appDir } = appPaths(app, deps.root);
  for (const step of steps) await applyStep(step, { systemd: deps.systemd, appDir });
  if (wrote || steps.some((step) => step.action === 'enable' || step.action === 'disable'))
    await (deps.sync ?? defaultSync)();
}

async function defaultSync(): Promise<void> {
  await run('sync', []);
}

/**
 * Puts the device back on `to` (a release on disk), or on nothing when there is no
 * earlier release: its units, `current`, and restarts onto its code.
 */
async function restore(
  deps: DeployDeps,
  state: AgentState,
  from: { commit: string | undefined; app: string | undefined },
  to: string | undefined,
): Promise<void> {
  const installed = await installedUnits(deps, [from.app, state.app]);
  if (to && state.app) {
    const dir = join(appPaths(state.app, deps.root).appDir, 'releases', to);
    const config = await releaseConfigOnDisk(dir);
    if (config.ok) {
      const units = desiredUnits(
        config.spec,
        deviceIdentity(deps.device, config.fleet),
        deps.root,
        to,
      );
      const steps = planDeploy(
        { commit: from.commit, units: installed },
        { commit: to, units, codeChanged: true },
      );
      deps.log(`restoring ${short(to)}:\n${describePlan(steps)}`);
      await apply(deps, config.spec.app, steps);
      // Return once the restored release serves again (or say that it does not).
      const gate = await healthGate(
        gatedServices(config.spec, units),
        healthDeps(deps, config.spec, dir),
      );
      deps.log(
        gate.healthy
          ? `${short(to)} is healthy again`
          : `the restored release ${short(to)} is not healthy either:\n${gate.reason}`,
      );
      return;
    }
    deps.log(`release ${short(to)} on disk cannot be read (${config.problems.join('; ')})`);
  }
  const steps = planDeploy(
    { commit: from.commit, units: installed },
    { commit: undefined, units: {}, codeChanged: false },
  );
  deps.log(`no earlier release to restore; stopping the app:\n${describePlan(steps)}`);
  await apply(deps, from.app ?? state.app ?? '', steps);
}

/**
 * Called when the agent starts (normally at boot). A deploy that a power cut or crash
 * interrupted is undone: the device returns to the last release that passed its health
 * gate, and the next cycle deploys again. Units whose enablement was lost are re-enabled.
 */
export async function recover(deps: DeployDeps): Promise<AgentState> {
  let state = await loadState(deps.statePath, deps.log);
  // First: a network change never confirmed would keep the device off its repository.
  state = await recoverNetworkState(deps, state);
  if (state.pending) {
    const { commit, from, app } = state.pending;
    deps.log(`deploy of ${short(commit)} was interrupted; returning to ${short(from)}`);
    await restore(deps, state, { commit, app: app ?? state.app }, state.current);
    state = withEvent(
      { ...state, pending: undefined },
      { at: now(), commit, kind: 'interrupted', reason: `returned to ${short(state.current)}` },
    );
    await saveState(deps.statePath, state);
  }
  if (state.app && state.current) {
    // `once: device` jobs that have not completed yet (cut short by a power cut, or failed).
    const config = await releaseConfigOnDisk(
      join(appPaths(state.app, deps.root).appDir, 'releases', state.current),
    );
    if (config.ok) {
      const units = desiredUnits(
        config.spec,
        deviceIdentity(deps.device, config.fleet),
        deps.root,
        state.current,
      );
      state = await runDeviceJobs(deps, state, config.spec, units);
    }
  }
  if (state.app) {
    const units = await deps.systemd.installedUnits(`piot-${state.app}-`);
    for (const [unit, content] of Object.entries(units)) {
      const longRunning = unit.endsWith('.timer') || !/^Type=oneshot$/m.test(content);
      if (longRunning && !(await deps.systemd.isEnabled(unit))) {
        deps.log(`${unit} had lost its enablement; enabling it`);
        await deps.systemd.enable(unit);
        await deps.systemd.start(unit);
      }
    }
  }
  return state;
}

/** The jobs of a release with `once: kind` that this device runs, by unit name. */
function onceJobs(
  spec: PiotYaml,
  units: UnitFiles,
  kind: 'release' | 'device',
): [string, string][] {
  return Object.entries(spec.jobs ?? {})
    .filter(([name, job]) => job.once === kind && units[unitName(spec.app, name)] !== undefined)
    .map(([name]) => [name, unitName(spec.app, name)]);
}

/**
 * Runs the release's `once: release` jobs (migrations) in the new release's directory,
 * before anything of it starts; the old release keeps running meanwhile. Returns why one
 * failed, after putting its unit back as it was.
 */
async function runReleaseJobs(
  deps: DeployDeps,
  spec: PiotYaml,
  units: UnitFiles,
  installed: UnitFiles,
): Promise<string | undefined> {
  for (const [name, unit] of onceJobs(spec, units, 'release')) {
    await deps.systemd.writeUnit(unit, units[unit]!);
    await deps.systemd.daemonReload();
    deps.log(`running job ${name} (once: release)`);
    if (await deps.systemd.runOnce(unit)) continue;
    if (installed[unit] !== undefined) await deps.systemd.writeUnit(unit, installed[unit]);
    else await deps.systemd.removeUnit(unit);
    await deps.systemd.daemonReload();
    const log = await deps.systemd.logTail(unit, 5).catch(() => '');
    return `job ${name} (once: release) failed\n${log.trim()}`;
  }
  return undefined;
}

/**
 * Runs the `once: device` jobs not yet completed on this device. Completion is recorded
 * only after success, so a run cut short (power cut, failure) is tried again at the next
 * agent start or deploy: at least once, completed exactly once.
 */
export async function runDeviceJobs(
  deps: DeployDeps,
  state: AgentState,
  spec: PiotYaml,
  units: UnitFiles,
): Promise<AgentState> {
  let next = state;
  for (const [name, unit] of onceJobs(spec, units, 'device')) {
    const key = `${spec.app}/${name}`;
    if (next.onceDone[key]) continue;
    deps.log(`running job ${name} (once: device)`);
    if (!(await deps.systemd.runOnce(unit))) {
      deps.log(`job ${name} (once: device) failed; it runs again at the next start or deploy`);
      continue;
    }
    next = { ...next, onceDone: { ...next.onceDone, [key]: now() } };
    await saveState(deps.statePath, next);
  }
  return next;
}

/**
 * Decrypts everything secret the release needs on this device (a SecretError when one
 * cannot be): the units' secrets, with the units whose secrets differ from what they
 * started with, and the network keyfiles with their passphrases.
 */
async function decryptRelease(
  deps: DeployDeps,
  spec: PiotYaml,
  units: UnitFiles,
  releaseDir: string,
): Promise<{ restart: string[]; names: string[]; network: Keyfiles }> {
  const names = [...Object.keys(spec.services ?? {}), ...Object.keys(spec.jobs ?? {})].filter(
    (name) => units[unitName(spec.app, name)] !== undefined,
  );
  const envs = await releaseSecretEnvs(spec, names, releaseDir, {
    name: deps.device,
    ageKeyFile: deps.ageKeyFile ?? AGE_KEY_FILE,
  });
  const changed = await changedSecretEnvs(envs, appPaths(spec.app, deps.root).secretsDir);
  // Wi-Fi passphrases given as secrets are decrypted now, so a missing one changes nothing.
  const network = await desiredNetwork(spec, releaseDir, {
    name: deps.device,
    ageKeyFile: deps.ageKeyFile ?? AGE_KEY_FILE,
  });
  return {
    restart: changed.map((name) => unitName(spec.app, name)),
    names: [...envs.keys()],
    network,
  };
}

/** Deletes releases beyond the newest `keep` good ones (the running one always stays). */
async function pruneReleases(appDir: string, state: AgentState, keep: number): Promise<void> {
  const keepSet = new Set([...state.history.slice(-keep), state.current]);
  const dir = join(appDir, 'releases');
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (!keepSet.has(entry)) await rm(join(dir, entry), { recursive: true, force: true });
  }
}

function healthDeps(deps: DeployDeps, spec: PiotYaml, releaseDir: string): HealthDeps {
  return {
    probe: (unit) => deps.systemd.probe(unit),
    logTail: (unit) => deps.systemd.logTail(unit, 5),
    check: (name) => {
      const service = spec.services?.[name];
      const user = (service?.user ?? 'app') === 'app' ? appUser(spec.app) : undefined;
      return service?.health
        ? runHealthCheck(service.health, { cwd: releaseDir, user })
        : Promise.resolve(undefined);
    },
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    ...deps.health,
  };
}

/**
 * Deploys `commit` (already fetched): validate → export → setup → render → plan → apply
 * → health gate → record. An invalid release changes nothing; one that fails its
 * health gate is rolled back and marked bad.
 */
export async function deployCommit(
  deps: DeployDeps,
  commit: string,
  options: { force?: boolean } = {},
): Promise<DeployOutcome> {
  const { git, log } = deps;
  let state = await loadState(deps.statePath, log);
  if (!options.force) {
    // A device renamed (or given other tags' name) re-renders the same commit.
    if (state.current === commit && state.device === deps.device)
      return { result: 'up-to-date', commit };
    if (state.badCommits.includes(commit)) return { result: 'bad', commit };
    if (state.lastDeploy?.commit === commit && state.lastDeploy.kind === 'invalid')
      return { result: 'invalid', commit, problems: [state.lastDeploy.reason ?? ''] };
  }

  const [specFile, fleetFile] = await git.readFiles(commit, ['.piot.yaml', '.piot/fleet.yaml']);
  const config = releaseConfig(specFile, fleetFile);
  if (!config.ok) {
    log(`commit ${short(commit)} is not deployable:\n${config.problems.join('\n')}`);
    state = withEvent(state, {
      at: now(),
      commit,
      kind: 'invalid',
      reason: config.problems.join('\n'),
    });
    await saveState(deps.statePath, state);
    return { result: 'invalid', commit, problems: config.problems };
  }
  const { spec, fleet } = config;
  const paths = appPaths(spec.app, deps.root);
  const release = join(paths.appDir, 'releases', commit);
  if (!(await exists(release))) await git.exportTree(commit, release);

  const from = state.current;
  state = withEvent(
    { ...state, pending: { commit, from, app: spec.app, startedAt: now() } },
    { at: now(), commit, kind: 'started' },
  );
  await saveState(deps.statePath, state);

  const running =
    from && state.app
      ? await releaseConfigOnDisk(join(appPaths(state.app, deps.root).appDir, 'releases', from))
      : undefined;
  const setupFailure = await runSetup(spec, release, running?.ok ? running.spec : undefined, log);
  if (setupFailure) {
    log(`commit ${short(commit)}: ${setupFailure}`);
    state = withEvent(
      { ...state, pending: undefined },
      { at: now(), commit, kind: 'failed', reason: setupFailure },
    );
    await saveState(deps.statePath, state);
    return { result: 'failed', commit, reason: setupFailure };
  }

  const units = desiredUnits(spec, deviceIdentity(deps.device, fleet), deps.root, commit);
  const secrets = await decryptRelease(deps, spec, units, release).catch((error: unknown) => {
    if (error instanceof SecretError) return error;
    throw error;
  });
  if (secrets instanceof SecretError) {
    log(`commit ${short(commit)}: ${secrets.message}`);
    state = withEvent(
      {
        ...state,
        pending: undefined,
        badCommits: [...state.badCommits.filter((c) => c !== commit), commit].slice(-MAX_BAD),
      },
      { at: now(), commit, kind: 'failed', reason: secrets.message },
    );
    await saveState(deps.statePath, state);
    return { result: 'failed', commit, reason: secrets.message };
  }
  const installed = await installedUnits(deps, [spec.app, state.app]);
  if (Object.values(units).some((u) => u.includes(`User=${appUser(spec.app)}`)))
    await ensureSystemUser(appUser(spec.app));
  const migration = await runReleaseJobs(deps, spec, units, installed);
  if (migration) {
    log(`commit ${short(commit)}: ${migration}`);
    state = withEvent(
      {
        ...state,
        pending: undefined,
        badCommits: [...state.badCommits.filter((c) => c !== commit), commit].slice(-MAX_BAD),
      },
      { at: now(), commit, kind: 'failed', reason: migration },
    );
    await saveState(deps.statePath, state);
    return { result: 'failed', commit, reason: migration };
  }
  const codeChanged = from ? await git.codeChanged(from, commit).catch(() => true) : true;
  const steps = planDeploy(
    { commit: from, units: installed },
    { commit, units, codeChanged, restart: secrets.restart },
  );
  log(`deploying ${short(commit)}:\n${describePlan(steps)}`);
  const commandsWrote = spec.setup !== undefined || onceJobs(spec, units, 'release').length > 0;
  await apply(deps, spec.app, steps, commandsWrote);
  // Secrets of services and jobs that no longer get them (removed, or not for this device).
  await pruneSecretEnvs(paths.secretsDir, secrets.names);

  const gate = await healthGate(gatedServices(spec, units), healthDeps(deps, spec, release));
  if (gate.healthy) {
    const history = [...state.history.filter((c) => c !== commit), commit].slice(-MAX_HISTORY);
    state = withEvent(
      {
        ...state,
        app: spec.app,
        device: deps.device,
        history,
        previous: from === commit ? state.previous : from,
        current: commit,
        pending: undefined,
      },
      { at: now(), commit, kind: 'succeeded' },
    );
    await saveState(deps.statePath, state);
    await pruneReleases(paths.appDir, state, spec.deploy?.keep_releases ?? 3);
    state = await runDeviceJobs(deps, state, spec, units);
    log(`${short(commit)} is healthy after ${(gate.ms / 1000).toFixed(1)} s`);
    const before = state.network;
    state = await deployNetwork(deps, state, { spec, commit, desired: secrets.network });
    const network =
      state.network !== before && state.network
        ? { result: state.network.result, reason: state.network.reason }
        : undefined;
    return { result: 'deployed', commit, steps: steps.length, healthyMs: gate.ms, network };
  }

  if (deps.stopping?.()) {
    // Services stopping with the device say nothing about the release. The deploy stays
    // pending: the next start undoes it, and the cycle after deploys it again.
    log(
      `${short(commit)} was not healthy yet when the agent was asked to stop; it is deployed again after the next start:\n${gate.reason}`,
    );
    return { result: 'interrupted', commit, reason: gate.reason };
  }
  log(`${short(commit)} failed its health gate:\n${gate.reason}`);
  state = withEvent(state, { at: now(), commit, kind: 'failed', reason: gate.reason });
  await restore(deps, state, { commit, app: spec.app }, from);
  state = withEvent(
    {
      ...state,
      pending: undefined,
      badCommits: [...state.badCommits.filter((c) => c !== commit), commit].slice(-MAX_BAD),
    },
    { at: now(), commit, kind: 'rolled-back', reason: `${gate.reason}\nrunning ${short(from)}` },
  );
  await saveState(deps.statePath, state);
  return { result: 'rolled-back', commit, to: from, reason: gate.reason };
}

/**
 * One cycle: sync the mirror, then deploy what the device follows if it is new. `fetch`:
 * someone asked for this cycle, so the mirror fetches without asking the remote first.
 */
export async function deployOnce(
  deps: DeployDeps,
  options: { fetch?: boolean } = {},
): Promise<DeployOutcome> {
  const commit = await sync(deps.git, deps.follow, options);
  if (!commit) return { result: 'no-target' };
  return deployCommit(deps, commit);
}

/**
 * Returns to the release before the running one (`piot rollback`): the running commit
 * is marked bad so the agent does not deploy it again until a newer commit arrives.
 */
export async function rollback(deps: DeployDeps): Promise<DeployOutcome> {
  let state = await loadState(deps.statePath, deps.log);
  const current = state.current;
  const to = state.history.filter((c) => c !== current).at(-1);
  if (!current) throw new Error('nothing is deployed on this device');
  if (!to) throw new Error(`there is no release before ${short(current)} on this device`);
  state = withEvent(
    { ...state, pending: { commit: to, from: current, app: state.app, startedAt: now() } },
    { at: now(), commit: to, kind: 'started', reason: 'rollback requested' },
  );
  await saveState(deps.statePath, state);
  await restore(deps, state, { commit: current, app: state.app }, to);
  state = withEvent(
    {
      ...state,
      pending: undefined,
      current: to,
      previous: state.history.filter((c) => c !== current && c !== to).at(-1),
      history: state.history.filter((c) => c !== current),
      badCommits: [...state.badCommits.filter((c) => c !== current), current].slice(-MAX_BAD),
    },
    { at: now(), commit: current, kind: 'rolled-back', reason: `by request; running ${short(to)}` },
  );
  await saveState(deps.statePath, state);
  return { result: 'rolled-back', commit: current, to, reason: 'by request' };
}
