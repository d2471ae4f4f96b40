import type { Command } from 'commander';
import type { CliContext } from '../cli/context.js';
import { buildProgram } from '../cli/command.js';
import { registerAgent } from '../cli/commands/agent.js';
import { registerDeploy } from '../cli/commands/deploy.js';
import { registerJobs } from '../cli/commands/jobs.js';
import { registerLogs } from '../cli/commands/logs.js';
import { registerNetwork } from '../cli/commands/network.js';
import { registerSecretsEnv } from '../cli/commands/secrets-env.js';
import { registerStatus } from '../cli/commands/status.js';
import { registerValidate } from '../cli/commands/validate.js';

/** The `piot` command installed on a Pi: the device-side subset, bundled for Node 18. */
export function createDeviceProgram(ctx: CliContext): Command {
  return buildProgram(ctx, 'PioT on this device.', [
    registerValidate,
    registerAgent,
    registerDeploy,
    registerStatus,
    registerLogs,
    registerJobs,
    registerNetwork,
    registerSecretsEnv,
  ]);
}
