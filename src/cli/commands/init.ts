import type { Command } from 'commander';
import { basename, join, relative, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { piotYamlJsonSchema } from '../../spec/json-schema.js';
import { APP_PATTERN } from '../../spec/schema.js';
import { appNameFrom, GITHUB_WORKFLOW, initTemplate, SCHEMA_PATH } from '../../spec/template.js';
import { exists, writeFileAtomic } from '../../sys/fs.js';
import { colors, type CliContext } from '../context.js';

interface InitOptions {
  app?: string;
  ci: string;
  force?: boolean;
}

export function registerInit(program: Command, ctx: CliContext): void {
  program
    .command('init')
    .description('write a commented .piot.yaml, its JSON Schema and a CI workflow')
    .argument('[dir]', 'the application repository', '.')
    .option('--app <name>', 'the app name (default: from the directory name)')
    .option('--ci <kind>', 'CI workflow to write: github or none', 'github')
    .option('--force', 'overwrite an existing .piot.yaml')
    .addHelpText(
      'after',
      `
Examples:
  piot init                        in your app's git repository
  piot init --app weather-station --ci none`,
    )
    .action(async (dir: string, options: InitOptions) => {
      const c = colors(ctx);
      const root = resolve(ctx.cwd, dir);
      const app = options.app ?? appNameFrom(basename(root));
      if (!new RegExp(APP_PATTERN).test(app)) {
        throw new UserError(`"${app}" is not a valid app name`, {
          hint: 'lowercase letters, digits and "-", starting with a letter, at most 40 characters',
          exitCode: 2,
        });
      }
      if (!['github', 'none'].includes(options.ci)) {
        throw new UserError(`--ci ${options.ci} is not known`, {
          hint: 'use --ci github or --ci none',
          exitCode: 2,
        });
      }
      const spec = join(root, '.piot.yaml');
      if ((await exists(spec)) && !options.force) {
        throw new UserError(`${relative(ctx.cwd, spec) || spec} already exists`, {
          hint: 'use --force to overwrite it, or `piot validate` to check it',
        });
      }
      const files: [string, string][] = [
        ['.piot.yaml', initTemplate(app)],
        [SCHEMA_PATH, `${JSON.stringify(piotYamlJsonSchema(), null, 2)}\n`],
      ];
      if (options.ci === 'github') files.push(['.github/workflows/piot.yml', GITHUB_WORKFLOW]);
      for (const [path, content] of files) {
        await writeFileAtomic(join(root, path), content);
        ctx.out(`${c.green('wrote')} ${relative(ctx.cwd, join(root, path))}\n`);
      }
      ctx.out(
        `\nNext: edit .piot.yaml, check it with \`piot validate\`, and commit these files.\n`,
      );
    });
}
