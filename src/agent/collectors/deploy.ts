import { statSync, type Stats } from 'node:fs';
import { agentStateSchema, emptyState, type AgentState } from '../state.js';
import { flag, gauge, readOptional } from './read.js';
import type { Collector, Sample } from './types.js';

const info = gauge('piot_deploy_info', 'The release the device runs (always 1).');
const badCommits = gauge(
  'piot_deploy_bad_commits',
  'Commits that failed their health gate and are not retried.',
);
const pending = gauge('piot_deploy_pending', 'Whether a deploy is under way (1) or not (0).');
const lastSuccess = gauge(
  'piot_deploy_last_success',
  'Whether the last deploy succeeded (1) or not (0).',
);
const lastTime = gauge(
  'piot_deploy_last_timestamp_seconds',
  'When the last deploy event happened, in unixtime.',
);
const lastInfo = gauge(
  'piot_deploy_last_info',
  'The last deploy: its commit and outcome (always 1).',
);

// The state file as last read: the agent replaces it (a new file renamed over it) only when
// a deploy changes something, while every scrape and heartbeat wants it; validating its up
// to 200 events each time cost more than rendering the whole scrape.
let kept: { path: string; identity: string; state: AgentState } | undefined;

// Read only: loadState would move a damaged file aside, which is the agent's call, not a scrape's.
function readState(path: string): AgentState {
  const stat = statOptional(path);
  if (stat === undefined) return emptyState();
  const identity = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  if (kept?.path === path && kept.identity === identity) return kept.state;
  const text = readOptional(path);
  if (text === undefined) return emptyState();
  const parsed = agentStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${path} is not a valid state file`);
  kept = { path, identity, state: parsed.data };
  return parsed.data;
}

function statOptional(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/** The running release, bad commits and the last deploy's outcome from the agent's state file. */
export const deploy: Collector = {
  name: 'deploy',
  collect(ctx) {
    const state = readState(ctx.stateFile);
    const app = state.app ?? '';
    const samples: Sample[] = [
      badCommits(state.badCommits.length, { app }),
      pending(flag(state.pending !== undefined), { app }),
    ];
    if (state.current) samples.push(info(1, { app, commit: state.current }));
    const last = state.lastDeploy;
    if (last) {
      samples.push(
        lastSuccess(flag(last.kind === 'succeeded'), { app }),
        lastTime(Date.parse(last.at) / 1000, { app }),
        lastInfo(1, { app, commit: last.commit, kind: last.kind }),
      );
    }
    return samples;
  },
};
