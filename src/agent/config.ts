import { UserError } from '../errors.js';
import { readUserFile } from '../sys/fs.js';
import { parseDuration } from '../spec/duration.js';
import { formatProblem } from '../spec/problem.js';
import type { DeviceFile } from '../spec/device.js';
import { validateDeviceFile } from '../spec/validate.js';

/** Where the device file lives on a Pi (DESIGN.md, device layout). */
export const DEVICE_FILE = '/etc/piot/device.yaml';

/**
 * The SSH host keys a device trusts for its repository: written by `piot image configure
 * --repo-host-key`, or by ssh pinning the first key it sees. A fixed path, not a setting.
 */
export const KNOWN_HOSTS = '/etc/piot/known_hosts';

/** What the agent follows, from the device file. */
export interface AgentConfig {
  device: string;
  repo: string;
  /** A branch to follow, or a tag pattern (newest matching tag). */
  follow: { branch: string } | { tags: string };
  pollMs: number;
  deployKey?: string | undefined;
}

/** Reads and validates the device file; a bad file is a UserError listing every problem. */
export async function loadDeviceFile(path = DEVICE_FILE): Promise<DeviceFile> {
  const result = validateDeviceFile(await readUserFile(path, 'device file'), { file: path });
  if (!result.ok) {
    throw new UserError(
      `the device file is not valid:\n${result.problems.map(formatProblem).join('\n')}`,
      { hint: 'its keys are described in docs/device.md' },
    );
  }
  return result.value;
}

/** The agent's view of a device file. */
export function agentConfig(file: DeviceFile): AgentConfig {
  return {
    device: file.name,
    repo: file.repo,
    follow: file.tags ? { tags: file.tags } : { branch: file.branch ?? 'main' },
    pollMs: parseDuration(file.poll ?? '30s') ?? 30_000,
    deployKey: file.deploy_key,
  };
}
