/** Where the fleet commands find the hub and the API token to show it. */
import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { UserError } from '../errors.js';
import { readOptionalUserFile, writeFileAtomic } from '../sys/fs.js';

/** What `piot hub login` keeps: one hub and an API token for it. */
export interface HubConfig {
  url: string;
  token: string;
}

/** A hub to talk to, and where its address came from (for messages). */
export interface HubTarget {
  url: string;
  token: string;
  /** `--hub`, `PIOT_HUB` or the config file's path. */
  from: string;
}

/** `${XDG_CONFIG_HOME:-~/.config}/piot/hub.yaml`, as the operator key's directory. */
export function hubConfigPath(env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME;
  const config = xdg && isAbsolute(xdg) ? xdg : join(env.HOME || homedir(), '.config');
  return join(config, 'piot', 'hub.yaml');
}

/** The URL without a trailing slash; anything but http(s)://HOST… is a usage error. */
export function normalizeHubUrl(text: string, from: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = new URL('invalid:');
  }
  if (!['http:', 'https:'].includes(url.protocol) || !url.host || url.search || url.hash) {
    throw new UserError(`${from} ${JSON.stringify(text)} is not a hub URL`, {
      hint: 'give it as http://HOST:PORT or https://HOST (e.g. http://127.0.0.1:8800)',
      exitCode: 2,
    });
  }
  return url.href.replace(/\/+$/, '');
}

/** The config file, or undefined if there is none; a file that is not {url, token} is an error. */
export async function readHubConfig(path: string): Promise<HubConfig | undefined> {
  const text = await readOptionalUserFile(path, 'the hub config');
  if (text === undefined) return undefined;
  let data: unknown;
  try {
    data = parse(text);
  } catch {
    data = undefined;
  }
  const { url, token } = (data ?? {}) as Partial<Record<string, unknown>>;
  if (typeof url !== 'string' || typeof token !== 'string' || !token) {
    throw new UserError(`${path} is not a hub config (url: and token:)`, {
      hint: 'run `piot hub login --url URL` to write it again',
    });
  }
  return { url: normalizeHubUrl(url, `url in ${path}:`), token };
}

/** Writes the config readable by its owner only (0600, in a 0700 directory when made here). */
export async function writeHubConfig(path: string, config: HubConfig): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFileAtomic(path, stringify(config), { mode: 0o600 });
}

/**
 * The hub of `--hub`, else `$PIOT_HUB`, else the config file, or undefined if none is set.
 * The token is `$PIOT_HUB_API_TOKEN`, else the file's, which is only sent to the file's own
 * hub: pointing --hub elsewhere must not hand that hub someone else's token.
 */
export async function findHub(
  env: NodeJS.ProcessEnv,
  flag: string | undefined,
): Promise<HubTarget | undefined> {
  const path = hubConfigPath(env);
  const file = await readHubConfig(path);
  const chosen =
    flag !== undefined
      ? { url: normalizeHubUrl(flag, '--hub'), from: '--hub' }
      : env.PIOT_HUB
        ? { url: normalizeHubUrl(env.PIOT_HUB, '$PIOT_HUB'), from: 'PIOT_HUB' }
        : file && { url: file.url, from: path };
  if (!chosen) return undefined;
  const token = env.PIOT_HUB_API_TOKEN || (file?.url === chosen.url ? file.token : undefined);
  if (!token) {
    throw new UserError(`no API token for the hub at ${chosen.url}`, {
      hint: `run \`piot hub login --url ${chosen.url}\`, or set $PIOT_HUB_API_TOKEN (make a token on the hub with \`piot hub token create --api USER\`)`,
    });
  }
  return { url: chosen.url, token, from: chosen.from };
}

/** The hub as findHub finds it; no hub at all is a UserError saying how to name one. */
export async function requireHub(
  env: NodeJS.ProcessEnv,
  flag: string | undefined,
): Promise<HubTarget> {
  const hub = await findHub(env, flag);
  if (hub) return hub;
  throw new UserError('no hub is configured', {
    hint: `run \`piot hub login --url URL\` once (it writes ${hubConfigPath(env)}), or pass --hub URL, or set $PIOT_HUB`,
  });
}
