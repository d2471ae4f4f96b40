import type { Command } from 'commander';
import { join, relative, resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { listSecrets, type SecretStatus } from '../../secrets/list.js';
import { rekeySecrets, type RekeyedSecret } from '../../secrets/rekey.js';
import { removeSecret } from '../../secrets/remove.js';
import type { RecipientChanges } from '../../secrets/selection.js';
import { setSecret } from '../../secrets/set.js';
import { readUserFile } from '../../sys/fs.js';
import { colors, type CliContext } from '../context.js';
import { promptHidden, readStdin, withoutFinalNewline } from '../prompt.js';

interface SetOptions {
  devices?: string;
  allDevices?: boolean;
  file?: string;
  stdin?: boolean;
  operator?: string;
  json?: boolean;
}

/** Where a set value comes from: --file, stdin (--stdin or not a terminal), or a hidden prompt. */
function valueReader(name: string, options: SetOptions, ctx: CliContext): () => Promise<string> {
  if (options.file !== undefined && options.stdin) {
    throw new UserError('give --file or --stdin, not both');
  }
  if (options.file !== undefined) {
    const path = resolve(ctx.cwd, options.file);
    return async () => {
      const bytes = await readUserFile(path, 'value file');
      try {
        return withoutFinalNewline(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
      } catch {
        throw new UserError(`${options.file} is not UTF-8 text`, {
          hint: 'secrets reach services as environment variables: base64-encode binary files',
        });
      }
    };
  }
  if (options.stdin || !process.stdin.isTTY)
    return async () => withoutFinalNewline(await readStdin());
  return () => promptHidden(`Value of ${name}`, { confirm: true });
}

/** JSON with absent fields as null, so scripts see every key. */
const json = (data: unknown) =>
  `${JSON.stringify(data, (_key, v: unknown) => (v === undefined ? null : v), 2)}\n`;

const list = (names: string[]) => names.join(', ') || 'none';

function describeChanges(kind: string, changes: RecipientChanges): string[] {
  const parts: string[] = [];
  if (changes.added.length) parts.push(`+ ${kind} ${changes.added.join(', ')}`);
  if (changes.removed.length) parts.push(`- ${kind} ${changes.removed.join(', ')}`);
  if (changes.changed.length) parts.push(`~ ${kind} ${changes.changed.join(', ')} (new key)`);
  return parts;
}

function changeLines(s: Pick<SecretStatus | RekeyedSecret, 'changes'>): string[] {
  return [
    ...describeChanges('device', s.changes.devices),
    ...describeChanges('operator', s.changes.operators),
  ];
}

function printLs(secrets: SecretStatus[], ctx: CliContext): void {
  const c = colors(ctx);
  if (secrets.length === 0) {
    ctx.out('no secrets yet (piot secrets set NAME)\n');
    return;
  }
  const rows = secrets.map((s) => [
    s.name,
    s.status === 'missing' ? '-' : s.selectors ? s.selectors.join(',') : 'all',
    s.status === 'missing' ? '-' : list(s.devices),
    s.status,
    s.used === undefined ? '?' : s.used ? 'yes' : 'no',
  ]);
  const head = ['NAME', 'SELECTORS', 'DEVICES', 'STATUS', 'USED'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `${cells.map((x, i) => x.padEnd(widths[i]!)).join('  ')}`;
  ctx.out(`${c.bold(line(head)).trimEnd()}\n`);
  for (const [i, row] of rows.entries()) {
    const s = secrets[i]!;
    const colored = s.status === 'ok' ? line(row) : c.yellow(line(row));
    ctx.out(`${colored.trimEnd()}\n`);
    for (const change of changeLines(s)) ctx.out(`  ${c.dim(change)}\n`);
    for (const p of s.problems) {
      ctx.out(`  ${c.red('✖')} ${p.message}\n${p.hint ? `    ${c.dim(`hint: ${p.hint}`)}\n` : ''}`);
    }
  }
  if (secrets.some((s) => s.status === 'stale')) {
    ctx.err(`\nrun \`piot secrets rekey\` to re-encrypt the stale secrets to the current fleet\n`);
  }
}

/** `piot secrets`: set, ls, rm, rekey the encrypted secrets in .piot/secrets/. */
export function registerSecrets(program: Command, ctx: CliContext): void {
  const note = (text: string) => ctx.err(`note: ${text}\n`);
  const show = (repo: string, file: string) => relative(ctx.cwd, join(repo, file)) || file;
  const secrets = program
    .command('secrets')
    .description("encrypt values for the fleet's devices into .piot/secrets/ (age)")
    .addHelpText(
      'after',
      `
Examples:
  piot secrets set API_TOKEN                          prompt for the value; every device
  piot secrets set API_TOKEN --devices tag:sensors    only devices tagged sensors
  printf %s "$TOKEN" | piot secrets set API_TOKEN --stdin
  piot secrets ls                                     which devices can read what; stale ones
  piot secrets rekey                                  re-encrypt stale secrets after adding devices
  piot secrets rm API_TOKEN

Values are encrypted to each selected device's key and to every operator in
.piot/fleet.yaml; your operator key is $PIOT_AGE_KEY_FILE or ~/.config/piot/age.key.`,
    );

  secrets
    .command('set')
    .description('encrypt a value to the selected devices and the operators')
    .argument('<name>', 'the secret, UPPER_CASE (as listed in .piot.yaml secrets:)')
    .option('--devices <selectors>', 'comma-separated device names or tag:NAME (default: all)')
    .option('--all-devices', 'every device, even if the secret had --devices before')
    .option('--file <path>', 'read the value from a file (one final newline is dropped)')
    .option('--stdin', 'read the value from stdin (the default when stdin is not a terminal)')
    .option('--operator <name>', 'your name in .piot/fleet.yaml operators (default: your user)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  piot secrets set API_TOKEN --devices tag:sensors,kitchen
  piot secrets set TLS_KEY --file key.pem --devices gateway
  printf %s "$TOKEN" | piot secrets set API_TOKEN --stdin`,
    )
    .action(async (name: string, options: SetOptions) => {
      const c = colors(ctx);
      const result = await setSecret({
        cwd: ctx.cwd,
        env: ctx.env,
        name,
        devices: options.devices,
        allDevices: options.allDevices,
        operator: options.operator,
        readValue: valueReader(name, options, ctx),
      });
      result.notes.forEach(note);
      if (options.json) {
        ctx.out(json({ ...result, notes: undefined }));
        return;
      }
      const selected = result.selectors ? ` (${result.selectors.join(', ')})` : ' (all devices)';
      ctx.out(
        `${c.green('✓')} ${result.replaced ? 'replaced' : 'set'} ${c.bold(name)}: readable by ${list(result.devices)}${selected} and operators ${list(result.operators)}\n`,
      );
      ctx.out(`  ${show(result.repo, result.file)} written; commit it\n`);
    });

  secrets
    .command('ls')
    .alias('list')
    .description('list the secrets, the devices they are encrypted to, and stale or missing ones')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  piot secrets ls
  piot secrets ls --json

STATUS is ok, stale (the fleet now selects other devices or keys: run piot secrets rekey),
missing (.piot.yaml lists it but it was never set) or invalid. Nothing is decrypted.`,
    )
    .action(async (options: { json?: boolean }) => {
      const result = await listSecrets({ cwd: ctx.cwd });
      if (options.json) ctx.out(json({ secrets: result.secrets }));
      else printLs(result.secrets, ctx);
    });

  secrets
    .command('rm')
    .alias('remove')
    .description("delete a secret's file")
    .argument('<name>', 'the secret')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nExamples:\n  piot secrets rm API_TOKEN')
    .action(async (name: string, options: { json?: boolean }) => {
      const result = await removeSecret({ cwd: ctx.cwd, name });
      result.notes.forEach(note);
      if (options.json) ctx.out(json({ name, file: result.file }));
      else ctx.out(`removed ${show(result.repo, result.file)}; commit it\n`);
    });

  secrets
    .command('rekey')
    .description('re-encrypt secrets to the devices and operators the fleet now selects')
    .argument('[names...]', 'the secrets to re-encrypt (default: every stale one)')
    .option('--devices <selectors>', 'new selectors for the named secrets')
    .option('--all-devices', 'encrypt the named secrets to every device')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  piot secrets rekey                                   after adding devices or operators
  piot secrets rekey API_TOKEN --devices tag:sensors   change who can read a secret

Decrypts with your operator key ($PIOT_AGE_KEY_FILE or ~/.config/piot/age.key).`,
    )
    .action(
      async (
        names: string[],
        options: { devices?: string; allDevices?: boolean; json?: boolean },
      ) => {
        const c = colors(ctx);
        const result = await rekeySecrets({ cwd: ctx.cwd, env: ctx.env, names, ...options });
        result.notes.forEach(note);
        if (options.json) {
          ctx.out(json({ secrets: result.secrets }));
          return;
        }
        if (result.secrets.length === 0) {
          ctx.out(
            'every secret is encrypted to the devices and operators it should be; nothing to do\n',
          );
          return;
        }
        for (const s of result.secrets) {
          const changes = changeLines(s);
          ctx.out(
            `${c.green('✓')} ${c.bold(s.name)}: readable by ${list(s.devices)} and operators ${list(s.operators)}\n`,
          );
          ctx.out(
            changes.length ? changes.map((x) => `  ${x}\n`).join('') : '  (same recipients)\n',
          );
        }
        ctx.out(`${result.secrets.length} re-encrypted in .piot/secrets/; commit them\n`);
      },
    );
}
