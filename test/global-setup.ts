import { execFileSync } from 'node:child_process';

/** Builds dist/ once so CLI tests run the real bundles. */
export default function setup(): void {
  execFileSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
}
