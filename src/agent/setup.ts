import type { PiotYaml } from '../spec/schema.js';
import { run } from '../sys/process.js';

const SETUP_TIMEOUT_MS = 30 * 60_000;

const tail = (text: string, lines = 20) => text.trim().split('\n').slice(-lines).join('\n');

/**
 * Prepares a release before it runs: ensures `setup.apt` packages when the list differs
 * from the running release's, then runs `setup.run` commands in the release directory
 * (as root, with the app's `env`). Resolves to undefined on success, else why it failed.
 */
export async function runSetup(
  spec: PiotYaml,
  releaseDir: string,
  running: PiotYaml | undefined,
  log: (message: string) => void,
): Promise<string | undefined> {
  const apt = [...(spec.setup?.apt ?? [])].sort();
  const before = [...(running?.setup?.apt ?? [])].sort();
  if (apt.length > 0 && apt.join(' ') !== before.join(' ')) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const install = () =>
      run('apt-get', ['install', '-y', '--no-install-recommends', ...apt], {
        env,
        timeoutMs: SETUP_TIMEOUT_MS,
      });
    log(`setup: apt-get install ${apt.join(' ')}`);
    let result = await install();
    if (result.code !== 0) {
      // Package lists may be stale or missing on a fresh device: update once, then retry.
      await run('apt-get', ['update'], { env, timeoutMs: SETUP_TIMEOUT_MS });
      result = await install();
    }
    if (result.code !== 0)
      return `setup: apt-get install ${apt.join(' ')} failed (exit ${result.code}):\n${tail(result.stderr || result.stdout)}`;
  }
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(spec.env ?? {})) {
    if (!String(value).startsWith('secret:')) env[key] = String(value);
  }
  for (const command of spec.setup?.run ?? []) {
    log(`setup: ${command}`);
    const result = await run('/bin/sh', ['-c', command], {
      cwd: releaseDir,
      env,
      timeoutMs: SETUP_TIMEOUT_MS,
    });
    if (result.code !== 0) {
      const output = tail(`${result.stdout}\n${result.stderr}`);
      return `setup: "${command}" failed (exit ${result.code ?? result.signal}):\n${output}`;
    }
  }
  return undefined;
}
