// Builds dist/piot.js (the CLI) and dist/piot-agent.mjs (the device bundle, Node 18, no native modules).
import { build } from 'esbuild';
import { chmod, mkdir, writeFile } from 'node:fs/promises';

const banner = {
  js: [
    '#!/usr/bin/env node',
    "import { createRequire as __piotCreateRequire } from 'node:module';",
    'const require = __piotCreateRequire(import.meta.url);',
  ].join('\n'),
};

/** Fails the build if a bundle would need a compiled addon. */
function assertNoNativeModules(metafile, name) {
  const native = Object.keys(metafile.inputs).filter((input) => input.endsWith('.node'));
  if (native.length > 0) throw new Error(`${name} pulls in native modules: ${native.join(', ')}`);
}

/**
 * zod re-exports every locale (`z.locales`), which esbuild cannot drop; PioT's messages
 * are its own English ones, so the device bundle gets English only. Smaller, and the
 * source stays one-byte text, which halves what V8 keeps of it in memory on the Pi.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(pluginBuild) {
    pluginBuild.onResolve({ filter: /\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${'/node_modules/zod/'}`)
        ? { path: 'zod-locales', namespace: 'piot-stub' }
        : undefined,
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'piot-stub' }, () => ({
      contents: "export { default as en } from 'zod/v4/locales/en.js';",
      resolveDir: process.cwd(),
      loader: 'js',
    }));
  },
};

await mkdir('dist', { recursive: true });
const common = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  banner,
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
};

const cli = await build({
  ...common,
  entryPoints: ['src/cli/bin.ts'],
  outfile: 'dist/piot.js',
  target: 'node20',
  // Installed as dependencies of the piot package: ext2fs ships code esbuild refuses
  // to re-bundle (assignments to constants on paths it never takes). file-disk goes with
  // it: balena-image-fs must see the same Disk class PioT hands it. The hub's database
  // drivers stay packages too: better-sqlite3 is a compiled addon, pg loads pg-native lazily.
  external: ['balena-image-fs', 'file-disk', 'better-sqlite3', 'pg'],
  sourcemap: 'linked',
});
const agent = await build({
  ...common,
  entryPoints: ['src/agent/bin.ts'],
  outfile: 'dist/piot-agent.mjs',
  target: 'node18',
  // Whitespace and comments only: names stay readable in stack traces.
  minifyWhitespace: true,
  plugins: [zodEnglishOnly],
});
assertNoNativeModules(agent.metafile, 'the agent bundle');
await writeFile('dist/piot-agent.meta.json', JSON.stringify(agent.metafile));
await chmod('dist/piot.js', 0o755);
await chmod('dist/piot-agent.mjs', 0o755);
void cli;
