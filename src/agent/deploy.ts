import { join } from 'node:path';
import type { Git } from '../sys/git.js';
import { exists } from '../sys/fs.js';
import { ensureSystemUser, type Systemd } from '../sys/systemd.js';
import { formatProblem } from '../spec/problem.js';
import { validateFleet, validatePiotYaml } from '../spec/validate.js';
import type { Fleet } from '../spec/fleet.js';
import { applyStep } from './apply.js';
import { describePlan, planDeploy } from './plan.js';
import { desiredUnits, deviceIdentity } from './render.js';
import { loadState, saveState, withEvent, type AgentState } from './state.js';
import { appPaths, appUser } from './units.js';

/** What one deploy cycle needs from the device. */
export interface DeployDeps {
  git: Git;
  systemd: Systemd;
  device: string;
  branch: string;
  /** Host root for /opt/piot and /run/piot (tests: a temp dir; units still go to systemd). */
  root: string;
  statePath: string;
  log: (message: string) => void;
}

/** What a cycle did. */
export type DeployOutcome =
  | { result: 'up-to-date'; commit: string }
  | { result: 'deployed'; commit: string; steps: number }
  | { result: 'invalid'; commit: string; problems: string[] }
  | { result: 'no-branch' };

/**
 * One cycle: fetch → read and validate `.piot.yaml` at the branch head → render this
 * device's units → plan → apply → record. An invalid release changes nothing on the
 * device; its problems go to the state file for `piot status`.
 */
export async function deployOnce(deps: DeployDeps): Promise<DeployOutcome> {
  const { git, log } = deps;
  await git.fetch();
  const commit = await git.branchHead(deps.branch);
  if (!commit) return { result: 'no-branch' };
  let state: AgentState = await loadState(deps.statePath, log);
  if (state.current === commit) return { result: 'up-to-date', commit };
  if (state.lastDeploy?.commit === commit && state.lastDeploy.kind === 'invalid') {
    return { result: 'invalid', commit, problems: [state.lastDeploy.reason ?? ''] };
  }
  const now = () => new Date().toISOString();

  const specBytes = await git.readFile(commit, '.piot.yaml');
  const fleetBytes = await git.readFile(commit, '.piot/fleet.yaml');
  let fleet: Fleet | undefined;
  const problems: string[] = [];
  if (fleetBytes) {
    const f = validateFleet(fleetBytes);
    if (f.ok) fleet = f.value;
    else problems.push(...f.problems.map(formatProblem));
  }
  const spec = specBytes
    ? validatePiotYaml(specBytes, { fleet })
    : ({
        ok: false,
        problems: [{ file: '.piot.yaml', line: 1, column: 1, message: 'missing in this commit' }],
      } as const);
  if (!spec.ok) problems.push(...spec.problems.map(formatProblem));
  if (!spec.ok || problems.length > 0) {
    log(`commit ${commit.slice(0, 12)} is not deployable:\n${problems.join('\n')}`);
    state = withEvent(state, { at: now(), commit, kind: 'invalid', reason: problems.join('\n') });
    await saveState(deps.statePath, state);
    return { result: 'invalid', commit, problems };
  }

  const app = spec.value.app;
  const paths = appPaths(app, deps.root);
  const release = join(paths.appDir, 'releases', commit);
  if (!(await exists(release))) await git.exportTree(commit, release);
  const units = desiredUnits(spec.value, deviceIdentity(deps.device, fleet), deps.root);
  const installed = await deps.systemd.installedUnits(`piot-${app}-`);
  const codeChanged = state.current ? await git.codeChanged(state.current, commit) : true;
  const steps = planDeploy(
    { commit: state.current, units: installed },
    { commit, units, codeChanged },
  );
  log(`deploying ${commit.slice(0, 12)}:\n${describePlan(steps)}`);

  state = withEvent(
    { ...state, pending: { commit, from: state.current, startedAt: now() } },
    { at: now(), commit, kind: 'started' },
  );
  await saveState(deps.statePath, state);
  if (Object.values(units).some((u) => u.includes(`User=${appUser(app)}`)))
    await ensureSystemUser(appUser(app));
  for (const step of steps) await applyStep(step, { systemd: deps.systemd, appDir: paths.appDir });
  state = withEvent(
    { ...state, previous: state.current, current: commit, pending: undefined },
    { at: now(), commit, kind: 'succeeded' },
  );
  await saveState(deps.statePath, state);
  return { result: 'deployed', commit, steps: steps.length };
}
