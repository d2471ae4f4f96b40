import type { Command } from 'commander';
import { join, relative, resolve } from 'node:path';
import { ExitCode, UserError } from '../../errors.js';
import { formatProblem, type Problem } from '../../spec/problem.js';
import { validateFleet, validatePiotYaml } from '../../spec/validate.js';
import { exists, readUserFile } from '../../sys/fs.js';
import { colors, type CliContext } from '../context.js';

/** What `piot validate` found in a repository. */
export interface RepoValidation {
  ok: boolean;
  problems: Problem[];
  summary?: string;
}

/** Validates `.piot.yaml` and, if present, `.piot/fleet.yaml` in dir; paths shown relative to cwd. */
export async function validateRepo(dir: string, cwd: string): Promise<RepoValidation> {
  const show = (path: string) => relative(cwd, path) || path;
  const specPath = join(dir, '.piot.yaml');
  if (!(await exists(specPath))) {
    throw new UserError(`no .piot.yaml in ${show(dir) || '.'}`, {
      hint: 'run `piot init` to write one, or give the repository directory: piot validate DIR',
    });
  }
  const fleetPath = join(dir, '.piot', 'fleet.yaml');
  const problems: Problem[] = [];
  let fleet;
  if (await exists(fleetPath)) {
    const result = validateFleet(await readUserFile(fleetPath), { file: show(fleetPath) });
    if (result.ok) fleet = result.value;
    else problems.push(...result.problems);
  }
  const result = validatePiotYaml(await readUserFile(specPath), { file: show(specPath), fleet });
  problems.push(...result.problems);
  if (!result.ok || problems.length > 0) return { ok: false, problems };
  const spec = result.value;
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  const parts = [
    count(Object.keys(spec.services ?? {}).length, 'service'),
    count(Object.keys(spec.jobs ?? {}).length, 'job'),
  ];
  if (fleet) parts.push(count(Object.keys(fleet.devices).length, 'device'));
  return {
    ok: true,
    problems: [],
    summary: `${show(specPath)}: app ${spec.app} is valid (${parts.join(', ')})`,
  };
}

export function registerValidate(program: Command, ctx: CliContext): void {
  program
    .command('validate')
    .description('check .piot.yaml and .piot/fleet.yaml; exits 1 listing every problem')
    .argument('[dir]', 'the application repository', '.')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  piot validate                   check the repository in this directory
  piot validate examples/sensor   check another directory
  piot validate --json            machine-readable result for CI annotations`,
    )
    .action(async (dir: string, options: { json?: boolean }) => {
      const c = colors(ctx);
      const result = await validateRepo(resolve(ctx.cwd, dir), ctx.cwd);
      if (options.json) {
        ctx.out(`${JSON.stringify(result, null, 2)}\n`);
      } else if (result.ok) {
        ctx.out(`${c.green('✔')} ${result.summary}\n`);
      } else {
        for (const problem of result.problems) {
          const [head, ...rest] = formatProblem(problem).split('\n');
          ctx.err(`${c.red('✖')} ${head}\n${rest.map((line) => `${c.dim(line)}\n`).join('')}`);
        }
        const n = result.problems.length;
        ctx.err(`\n${n} problem${n === 1 ? '' : 's'} found\n`);
      }
      if (!result.ok) throw new ExitCode(1);
    });
}
