import { dirname, join } from 'node:path';
import { createNetworkManager } from '../../sys/network-manager.js';
import type { PiotYaml } from '../../spec/schema.js';
import type { DeployDeps } from '../deploy.js';
import { saveState, type AgentState } from '../state.js';
import { checkTimeoutMs, type Keyfiles } from './render.js';
import { applyNetwork, recoverNetwork, type NetworkDeps } from './trial.js';

/**
 * The network side of a deploy: keyfiles under the host root's NetworkManager directory,
 * the trial record beside the state file, and "the repository answers `git ls-remote`"
 * as the connectivity check. `deps.network` replaces parts (tests).
 */
export function networkDeps(deps: DeployDeps): NetworkDeps {
  return {
    nm: createNetworkManager(),
    dir: join(deps.root, 'etc/NetworkManager/system-connections'),
    trialPath: join(dirname(deps.statePath), 'network', 'trial.json'),
    check: async () => {
      const ref = 'branch' in deps.follow ? `refs/heads/${deps.follow.branch}` : 'HEAD';
      await deps.git.remoteHead(ref);
    },
    now: () => Date.now(),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    log: deps.log,
    ...deps.network,
  };
}

/**
 * Applies a healthy release's network on trial and records the outcome. A reverted network
 * does not roll the release back: the release stays, the network change is undone and
 * reported, and it is tried again only with a new commit.
 */
export async function deployNetwork(
  deps: DeployDeps,
  state: AgentState,
  options: { spec: PiotYaml; commit: string; desired: Keyfiles },
): Promise<AgentState> {
  const outcome = await applyNetwork(networkDeps(deps), options.desired, {
    commit: options.commit,
    timeoutMs: checkTimeoutMs(options.spec),
  });
  if (!outcome) return state;
  const next = { ...state, network: outcome };
  await saveState(deps.statePath, next);
  return next;
}

/** At agent start: undoes a network trial a reboot or crash interrupted, and records it. */
export async function recoverNetworkState(
  deps: DeployDeps,
  state: AgentState,
): Promise<AgentState> {
  const outcome = await recoverNetwork(networkDeps(deps));
  if (!outcome) return state;
  const next = { ...state, network: outcome };
  await saveState(deps.statePath, next);
  return next;
}
