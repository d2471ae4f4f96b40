import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { replaceSymlink, syncDir } from '../sys/fs.js';
import type { Systemd } from '../sys/systemd.js';
import type { Step } from './plan.js';

/** Performs one planned step against the OS. */
export async function applyStep(
  step: Step,
  deps: { systemd: Systemd; appDir: string },
): Promise<void> {
  const { systemd } = deps;
  switch (step.action) {
    case 'write-unit':
      return systemd.writeUnit(step.unit, step.content);
    case 'remove-unit':
      return systemd.removeUnit(step.unit);
    case 'daemon-reload':
      return systemd.daemonReload();
    case 'switch-current':
      // `current` is a relative link, so the release tree can move with its app directory.
      return replaceSymlink(join(deps.appDir, 'current'), join('releases', step.commit));
    case 'remove-current':
      await rm(join(deps.appDir, 'current'), { force: true });
      return syncDir(deps.appDir);
    case 'enable':
      return systemd.enable(step.unit);
    case 'disable':
      return systemd.disable(step.unit);
    case 'start':
      return systemd.start(step.unit);
    case 'stop':
      return systemd.stop(step.unit);
    case 'restart':
      return systemd.restart(step.unit);
  }
}
