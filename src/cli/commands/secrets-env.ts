import type { Command } from 'commander';
import { loadDeviceFile } from '../../agent/config.js';
import { releaseConfigOnDisk } from '../../agent/release.js';
import { AGE_KEY_FILE, writeSecretEnv } from '../../agent/secrets.js';
import { appPaths } from '../../agent/units.js';
import { UserError } from '../../errors.js';

/** `piot secrets-env APP NAME DIR`: run by a unit's ExecStartPre= to hand it its secrets. */
export function registerSecretsEnv(program: Command): void {
  program
    .command('secrets-env', { hidden: true })
    .description("write a service's or job's secrets for systemd (its unit's ExecStartPre=)")
    .argument('<app>')
    .argument('<name>', 'the service or job')
    .argument('<dir>', 'the release directory it starts in')
    .action(async (app: string, name: string, dir: string) => {
      const config = await releaseConfigOnDisk(dir);
      if (!config.ok)
        throw new UserError(`the release in ${dir} is not valid: ${config.problems.join('; ')}`);
      if (config.spec.app !== app)
        throw new UserError(`the release in ${dir} is app ${config.spec.app}, not ${app}`);
      const device = await loadDeviceFile();
      await writeSecretEnv(
        { dir, spec: config.spec, name },
        { name: device.name, ageKeyFile: AGE_KEY_FILE },
        appPaths(app).secretsDir,
      );
    });
}
