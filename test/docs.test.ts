import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createDeviceProgram } from '../src/agent/program.js';
import type { CliContext } from '../src/cli/context.js';
import { createProgram } from '../src/cli/program.js';

const root = join(import.meta.dirname, '..');
const ctx: CliContext = {
  cwd: root,
  out: () => undefined,
  err: () => undefined,
  color: false,
  env: {},
};
/** The developer's CLI and the device's: a documented command must exist in one of them. */
const programs = [createProgram(ctx), createDeviceProgram(ctx)];

/** Every `piot …` command line in the shell blocks of the README and docs/, with its place. */
function documentedCommands(): { where: string; words: string[] }[] {
  const files = ['README.md', ...readdirSync(join(root, 'docs')).map((f) => `docs/${f}`)];
  const found: { where: string; words: string[] }[] = [];
  for (const file of files.filter((f) => f.endsWith('.md'))) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    let inShell = false;
    for (let i = 0; i < lines.length; i++) {
      if (/^```/.test(lines[i]!)) {
        inShell = !inShell && /^```(sh|bash|shell|console)?\s*$/.test(lines[i]!);
        continue;
      }
      if (!inShell) {
        // Inline code naming a command: `piot secrets rekey`, `sudo piot deploy --now`.
        for (const m of lines[i]!.matchAll(/`((?:sudo )?(?:npx )?piot [^`]+)`/g)) {
          const words = shellWords(m[1]!);
          found.push({ where: `${file}:${i + 1}`, words: words.slice(words.indexOf('piot') + 1) });
        }
        continue;
      }
      let line = lines[i]!;
      const start = i + 1;
      while (line.endsWith('\\') && i + 1 < lines.length)
        line = `${line.slice(0, -1)} ${lines[++i]}`;
      const words = shellWords(line);
      const at = words.findIndex((w) => w === 'piot');
      if (
        at < 0 ||
        !words
          .slice(0, at)
          .every((w) => ['sudo', 'npx', '--yes', 'ssh'].includes(w) || w.includes('@'))
      )
        continue;
      found.push({ where: `${file}:${start}`, words: words.slice(at + 1) });
    }
  }
  return found;
}

/** Splits a shell line into words (quotes, comments), stopping at a pipe or a `;`/`&&`. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /\s*(?:'([^']*)'|"([^"]*)"|(#.*)|(\||&&|;)|([^\s'"|;&]+))/g;
  let word: string | undefined;
  for (let m = re.exec(line); m && m[0] !== ''; m = re.exec(line)) {
    if (m[3] !== undefined || m[4] !== undefined) break;
    word = m[1] ?? m[2] ?? m[5];
    if (word !== undefined) words.push(word);
  }
  return words;
}

/**
 * The command a documented line names, and the options it uses that the command lacks. Both
 * programs have `status`, `logs`, `run` and `deploy` (the Pi's own, and the fleet's through
 * the hub): a line is right when either program has the command with all its options.
 */
function resolve(words: string[]): { command?: Command; unknown: string[] } {
  const found = programs.map((program) => resolveIn(program, words));
  return (
    found.find((f) => f.command && f.unknown.length === 0) ??
    found.find((f) => f.command) ?? { unknown: [] }
  );
}

function resolveIn(program: Command, words: string[]): { command?: Command; unknown: string[] } {
  let command: Command = program;
  let i = 0;
  for (; i < words.length; i++) {
    const sub = command.commands.find(
      (c) => c.name() === words[i] || c.aliases().includes(words[i]!),
    );
    if (!sub) break;
    command = sub;
  }
  if (command === program && words.length > 0 && !words[0]!.startsWith('-')) return { unknown: [] };
  const known = new Set(
    [...command.options, ...program.options].flatMap((o) => [
      o.long,
      o.short,
      o.negate ? o.long : undefined,
    ]),
  );
  known.add('--help').add('-h');
  const unknown = words
    .slice(i)
    .filter((w) => w.startsWith('-') && w !== '-')
    .map((w) => w.split('=')[0]!)
    .filter((w) => !known.has(w));
  return { command, unknown };
}

describe('the commands in the docs', () => {
  const commands = documentedCommands();

  it('are found (the check reads the docs)', () => {
    expect(commands.length).toBeGreaterThan(60);
    expect(commands.map((c) => c.words[0])).toEqual(
      expect.arrayContaining([
        'validate',
        'image',
        'flash',
        'secrets',
        'status',
        'deploy',
        'jobs',
        'logs',
      ]),
    );
  });

  it('name commands and options PioT has', () => {
    const wrong = commands.flatMap(({ where, words }) => {
      const { command, unknown } = resolve(words);
      if (!command) return [`${where}: piot ${words.join(' ')}: no such command`];
      return unknown.map((o) => `${where}: piot ${words.join(' ')}: no option ${o}`);
    });
    expect(wrong).toEqual([]);
  });

  it('catches a command or option that does not exist', () => {
    expect(resolve(['imag', 'configure']).command).toBeUndefined();
    expect(resolve(['image', 'configure', 'x.img', '--wifi-contry', 'GB']).unknown).toEqual([
      '--wifi-contry',
    ]);
    expect(resolve(['deploy', '--now']).unknown).toEqual([]);
    // Either program may know a line: the Pi's `piot logs web -f`, the fleet's `--timeout`.
    expect(resolve(['logs', 'web', '-f']).unknown).toEqual([]);
    expect(resolve(['logs', 'kitchen', '--timeout', '5']).unknown).toEqual([]);
    expect(resolve(['logs', 'kitchen', '--folow']).unknown).toEqual(['--folow']);
  });
});
