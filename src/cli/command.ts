import { Command } from 'commander';
import { VERSION } from '../version.js';
import type { CliContext } from './context.js';

/** Adds one subcommand to a program. */
export type Register = (program: Command, ctx: CliContext) => void;

/** A `piot` program with the given subcommands and PioT's shared behaviour (exit codes, output). */
export function buildProgram(ctx: CliContext, description: string, commands: Register[]): Command {
  const program = new Command('piot')
    .description(description)
    .version(VERSION, '-V, --version', 'print the PioT version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: ctx.out,
      writeErr: ctx.err,
      getOutHasColors: () => ctx.color,
      getErrHasColors: () => ctx.color,
    });
  for (const register of commands) register(program, ctx);
  for (const command of program.commands) command.exitOverride().copyInheritedSettings(program);
  return program;
}
