/** What `piot image configure` and `piot flash` share: the device options and configuring. */
import type { Command } from 'commander';
import { copyFile, constants, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { UserError } from '../errors.js';
import { inspectBootDirectory, inspectImage, withBootFs, type ImageInfo } from '../image/boot.js';
import { writeBootFiles } from '../image/configure.js';
import { findAppRepo, recordDevice } from '../image/fleet-record.js';
import { resolveSettings, type ConfigureFlags, type DeviceSettings } from '../image/settings.js';
import { validateProvisionFile } from '../spec/validate.js';
import { formatProblem } from '../spec/problem.js';
import { readUserFile } from '../sys/fs.js';
import { isXz, xzDecompress } from '../sys/xz.js';
import { colors, type CliContext } from './context.js';
import { promptHidden, readStdin, withoutFinalNewline } from './prompt.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** The device options of `piot image configure` and `piot flash`, as commander gives them. */
export interface DeviceSettingsOptions extends ConfigureFlags {
  from?: string;
  passwordStdin?: boolean;
  fleet: boolean;
}

/** The password as a SHA-512 crypt hash: from stdin, a prompt on a terminal, or none. */
async function passwordHash(
  options: DeviceSettingsOptions,
  ctx: CliContext,
): Promise<string | undefined> {
  if (options.passwordHash || !options.user) return options.passwordHash;
  let password: string | undefined;
  if (options.passwordStdin) {
    password = withoutFinalNewline(await readStdin());
    if (!password) throw new UserError('--password-stdin: stdin was empty');
  } else if (process.stdin.isTTY) {
    password = await promptHidden(`Password for ${options.user}`, {
      confirm: true,
      what: 'passwords',
    });
  } else {
    ctx.err(
      `note: no password for ${options.user}: SSH keys only (--password-stdin or --password-hash to set one)\n`,
    );
    return undefined;
  }
  const { encrypt } = await import('unixcrypt');
  return encrypt(password);
}

/** The device settings from --from and the flags; every problem is found before anything is written. */
export async function deviceSettings(
  options: DeviceSettingsOptions,
  ctx: CliContext,
): Promise<DeviceSettings> {
  options.hubToken ??= ctx.env.PIOT_HUB_TOKEN;
  let file;
  if (options.from) {
    const checked = validateProvisionFile(await readUserFile(options.from, 'provisioning file'), {
      file: options.from,
    });
    if (!checked.ok) {
      throw new UserError(
        `${options.from} is invalid:\n${checked.problems.map(formatProblem).join('\n')}`,
      );
    }
    file = checked.value;
  }
  const flags: ConfigureFlags = { ...options, passwordHash: await passwordHash(options, ctx) };
  return resolveSettings(flags, file, {
    readText: async (path, what) => (await readUserFile(path, what)).toString('utf8'),
    timeZones: Intl.supportedValuesOf('timeZone'),
  });
}

/** Makes the file configure writes: the image itself, or a copy (decompressed) at out. */
async function target(
  image: string,
  out: string | undefined,
): Promise<{ path: string; made: boolean }> {
  const xz = await isXz(image).catch((error: NodeJS.ErrnoException) => {
    throw new UserError(
      `cannot read ${image}: ${error.code === 'ENOENT' ? 'no such file' : error.code}`,
    );
  });
  if (!out) {
    if (xz) {
      throw new UserError(`${image} is compressed (.xz)`, {
        hint: 'give --out FILE.img for the configured image',
      });
    }
    return { path: image, made: false };
  }
  if (!xz) await inspectImage(image, { writable: false });
  try {
    if (xz) await pipeline(xzDecompress(image), createWriteStream(out));
    else await copyFile(image, out, constants.COPYFILE_FICLONE);
  } catch (error) {
    await rm(out, { force: true });
    throw error;
  }
  return { path: out, made: true };
}

/**
 * Configures an image (or a copy at `out`, or a mounted boot directory) for a device,
 * records it in the app repository's fleet, and prints what it did.
 */
export async function configureImage(
  image: string,
  settings: DeviceSettings,
  options: { out?: string; fleet: boolean; json?: boolean },
  ctx: CliContext,
): Promise<ImageInfo> {
  const c = colors(ctx);
  const isDir = (await stat(image).catch(() => undefined))?.isDirectory() ?? false;
  let info: ImageInfo;
  let made = false;
  if (isDir) info = await inspectBootDirectory(image);
  else {
    const t = await target(image, options.out);
    made = t.made;
    try {
      info = await inspectImage(t.path);
    } catch (error) {
      if (made) await rm(t.path, { force: true });
      throw error;
    }
  }
  const result = await withBootFs(info, (boot) => writeBootFiles(boot, settings, info)).catch(
    async (error: unknown) => {
      if (made) await rm(info.path, { force: true });
      throw error;
    },
  );
  const repo = options.fleet ? await findAppRepo(ctx.cwd) : undefined;
  const fleet = repo
    ? await recordDevice(repo, {
        name: settings.name,
        tags: settings.tags,
        age: result.identity.ageRecipient,
        signing: result.identity.signingPublic,
      })
    : undefined;
  if (options.json) {
    ctx.out(
      `${JSON.stringify({
        image: info.path,
        release: info.release,
        device: settings.name,
        age: result.identity.ageRecipient,
        signing: result.identity.signingPublic,
        keptIdentity: result.reusedIdentity,
        fleet: fleet ?? null,
        cmdline: result.cmdline,
      })}\n`,
    );
    return info;
  }
  ctx.out(
    `${c.green('✓')} configured ${info.path} (Raspberry Pi OS ${info.release}, from ${info.releaseFrom}) as ${c.bold(settings.name)}\n`,
  );
  ctx.out(
    `  ${result.files} files in piot/ on the boot partition; first boot installs them and wipes piot/\n`,
  );
  ctx.out(
    `  identity: ${result.identity.ageRecipient}${result.reusedIdentity ? ' (kept from the earlier configure)' : ''}\n`,
  );
  if (fleet) ctx.out(`  .piot/fleet.yaml: ${settings.name} ${fleet}; commit it\n`);
  else if (settings.tags.length > 0) {
    ctx.err(
      `note: tags live in .piot/fleet.yaml; run this inside the app repository to record ${settings.name}\n`,
    );
  }
  return info;
}

/** Adds the device options `piot image configure` and `piot flash` share. */
export function addDeviceSettingsOptions(command: Command): Command {
  return command
    .option('--from <file>', 'read the settings from a provisioning YAML file (flags win)')
    .option('--device <name>', 'the device name and hostname')
    .option('--tags <list>', 'comma-separated tags, recorded in .piot/fleet.yaml')
    .option('--user <name>', "the login user (the image's first user is renamed to it)")
    .option('--password-hash <hash>', "the user's password as a crypt hash (openssl passwd -6)")
    .option('--password-stdin', "read the user's password from stdin")
    .option(
      '--ssh-key <file>',
      'an SSH public key file (or key) for the user; repeat for more',
      collect,
    )
    .option(
      '--wifi <ssid[:psk]>',
      'a Wi-Fi network; repeat for more, the first is preferred',
      collect,
    )
    .option('--hidden-wifi <ssid[:psk]>', 'a hidden Wi-Fi network; repeat for more', collect)
    .option('--wifi-country <cc>', 'the Wi-Fi regulatory country (ISO 3166, e.g. GB)')
    .option(
      '--ip <iface=address/prefix[,gateway[,dns...]]>',
      'a static IPv4 address; repeat for more interfaces',
      collect,
    )
    .option('--repo <url>', 'the application repository the device follows')
    .option('--branch <name>', 'the branch to follow (default main)')
    .option('--ref <pattern>', 'follow the newest tag matching this pattern instead (e.g. "v*")')
    .option('--deploy-key <file>', 'private SSH key for a private repository')
    .option(
      '--repo-host-key <line>',
      "the repository server's SSH host key, a known_hosts line (default: trust the first seen)",
      collect,
    )
    .option('--repo-host-key-file <file>', 'the same from a known_hosts file (ssh-keyscan output)')
    .option('--hub <url>', 'the hub the device reports to')
    .option('--hub-token <token>', "the hub's enrolment token (or $PIOT_HUB_TOKEN)")
    .option('--timezone <tz>', 'time zone, e.g. Europe/London')
    .option('--locale <locale>', 'locale, e.g. en_GB.UTF-8')
    .option('--upgrade', 'run apt-get upgrade on first boot')
    .option('--no-fleet', 'do not record the device in .piot/fleet.yaml');
}
