import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { basename } from 'node:path';
import { join } from 'node:path';
import { UserError } from '../errors.js';
import { packageRoot } from '../sys/package-root.js';
import { run } from '../sys/process.js';

/** One virtual Pi image recipe variant. */
export interface ImageVariant {
  suite: 'bookworm' | 'trixie';
  arch: 'amd64' | 'arm64';
  /** full: nodejs and git preinstalled; bare: installed by bootstrap. */
  flavor: 'full' | 'bare';
}

/** The variants tests and the demo use; CI builds each once. */
export const VARIANTS: ImageVariant[] = [
  { suite: 'bookworm', arch: 'amd64', flavor: 'full' },
  { suite: 'trixie', arch: 'amd64', flavor: 'full' },
  { suite: 'bookworm', arch: 'amd64', flavor: 'bare' },
  { suite: 'bookworm', arch: 'arm64', flavor: 'full' },
];

/** `bookworm-amd64-full` */
export function variantName(v: ImageVariant): string {
  return `${v.suite}-${v.arch}-${v.flavor}`;
}

/** Parses `bookworm-amd64-full`; throws a UserError naming what is wrong. */
export function parseVariant(text: string): ImageVariant {
  const [suite, arch, flavor, ...rest] = text.split('-');
  if (
    rest.length > 0 ||
    (suite !== 'bookworm' && suite !== 'trixie') ||
    (arch !== 'amd64' && arch !== 'arm64') ||
    (flavor !== 'full' && flavor !== 'bare')
  ) {
    throw new UserError(`"${text}" is not an image variant`, {
      hint: 'SUITE-ARCH-FLAVOR with SUITE bookworm|trixie, ARCH amd64|arm64, FLAVOR full|bare',
      exitCode: 2,
    });
  }
  return { suite, arch, flavor };
}

/** Where images are cached: $PIOT_VM_CACHE or /var/cache/piot/vm. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.PIOT_VM_CACHE ?? '/var/cache/piot/vm';
}

function recipeDir(): string {
  return join(packageRoot(), 'test', 'vm', 'image');
}

function variantArgs(v: ImageVariant): string[] {
  return ['--suite', v.suite, '--arch', v.arch, '--flavor', v.flavor];
}

/** The cache path of a variant: its name plus the first 12 hex digits of its recipe hash. */
export async function imagePath(
  v: ImageVariant,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const result = await run('bash', [
    join(recipeDir(), 'recipe-hash.sh'),
    ...variantArgs(v),
    '--short',
  ]);
  if (result.code !== 0) throw new Error(`recipe-hash.sh failed: ${result.stderr}`);
  return join(cacheDir(env), `${variantName(v)}-${result.stdout.trim()}.img`);
}

/** The cached image of a variant; never builds (a missing image is an error that says how to build it). */
export async function cachedImage(
  v: ImageVariant,
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  const path = await imagePath(v, env);
  if (!existsSync(path)) {
    throw new UserError(`the ${variantName(v)} virtual Pi image is not built (${path})`, {
      hint: `build it once: sudo npx piot vm build ${variantName(v)}`,
    });
  }
  return path;
}

/** Builds a variant into the cache unless it is there; streams the recipe's output. */
export async function buildImage(
  v: ImageVariant,
  options: { env?: NodeJS.ProcessEnv; onOutput?: (text: string) => void } = {},
): Promise<{ path: string; built: boolean }> {
  const env = options.env ?? process.env;
  const path = await imagePath(v, env);
  if (existsSync(path)) return { path, built: false };
  if (process.getuid?.() !== 0) {
    throw new UserError('building a virtual Pi image needs root (debootstrap, chroot)', {
      hint: `sudo npx piot vm build ${variantName(v)}`,
    });
  }
  const result = await run(
    'bash',
    [join(recipeDir(), 'build.sh'), ...variantArgs(v), '--out', path, '--cache', cacheDir(env)],
    {
      timeoutMs: 60 * 60 * 1000,
    },
  );
  options.onOutput?.(result.stdout);
  if (result.code !== 0) {
    throw new UserError(`building the ${variantName(v)} image failed`, {
      hint: result.stderr.trim().split('\n').slice(-8).join('\n'),
    });
  }
  await pruneOldImages(v, path);
  return { path, built: true };
}

/** Removes images of the same variant built from older recipes, with their side files. */
async function pruneOldImages(v: ImageVariant, keep: string): Promise<void> {
  const dir = join(keep, '..');
  const prefix = `${variantName(v)}-`;
  for (const file of await readdir(dir)) {
    if (
      file.startsWith(prefix) &&
      /^[a-z0-9-]+-[0-9a-f]{12}\.img/.test(file) &&
      !file.startsWith(basename(keep))
    ) {
      await rm(join(dir, file), { force: true });
    }
  }
}
