import type { Command } from 'commander';
import { buildProgram } from './command.js';
import type { CliContext } from './context.js';
import { registerDemo } from './commands/demo.js';
import { registerFlash } from './commands/flash.js';
import { registerFleet } from './commands/fleet.js';
import { registerHub } from './commands/hub.js';
import { registerImage } from './commands/image.js';
import { registerInit } from './commands/init.js';
import { registerSchema } from './commands/schema.js';
import { registerSecrets } from './commands/secrets.js';
import { registerValidate } from './commands/validate.js';
import { registerVm } from './commands/vm.js';

/** The `piot` command of the developer's machine. */
export function createProgram(ctx: CliContext): Command {
  return buildProgram(ctx, 'Run software on fleets of Raspberry Pis from a git repository.', [
    registerInit,
    registerValidate,
    registerSchema,
    registerImage,
    registerFlash,
    registerSecrets,
    registerVm,
    registerDemo,
    registerHub,
    registerFleet,
  ]).addHelpText(
    'after',
    `
Examples:
  piot init                 write .piot.yaml and a CI workflow in this repository
  piot validate             check .piot.yaml (and .piot/fleet.yaml) before pushing
  piot schema               JSON Schema of .piot.yaml for your editor
  piot secrets set NAME     encrypt a value for the fleet's devices (see piot secrets -h)
  piot vm bookworm-amd64-full   boot the virtual Pi
  piot hub --data DIR       run the hub (device registry and fleet API)
  piot hub login --url URL  then: piot devices, piot status kitchen, piot logs kitchen web`,
  );
}
