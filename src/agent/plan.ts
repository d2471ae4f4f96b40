/** The units PioT has installed for an app, by file name, with their contents. */
export type UnitFiles = Record<string, string>;

/** What is on the device now. */
export interface Installed {
  commit?: string | undefined;
  units: UnitFiles;
}

/** What the new release wants. */
export interface Desired {
  /** The release to run; undefined removes the app (nothing earlier to return to). */
  commit: string | undefined;
  units: UnitFiles;
  /** Services whose code changed between the two commits (not only their unit). */
  codeChanged: boolean;
  /** Long-running units to restart although their unit is unchanged (their secrets changed). */
  restart?: string[];
}

/** One thing to do to the OS; `applyStep` maps each action to systemd and the file system. */
export type Step =
  | { action: 'write-unit'; unit: string; content: string }
  | { action: 'daemon-reload' }
  | { action: 'switch-current'; commit: string }
  | { action: 'remove-current' }
  | { action: 'stop'; unit: string }
  | { action: 'disable'; unit: string }
  | { action: 'remove-unit'; unit: string }
  | { action: 'enable'; unit: string }
  | { action: 'start'; unit: string }
  | { action: 'restart'; unit: string };

const isLongRunning = (unit: string, content: string) =>
  unit.endsWith('.timer') || (unit.endsWith('.service') && !/^Type=oneshot$/m.test(content));

/**
 * The steps from installed to desired, in the order to apply them: write new units,
 * reload, switch `current`, stop and remove stale units, (re)start what changed.
 * An unchanged app yields no steps.
 */
export function planDeploy(installed: Installed, desired: Desired): Step[] {
  const names = (units: UnitFiles) => Object.keys(units).sort();
  const added = names(desired.units).filter((u) => installed.units[u] === undefined);
  const changed = names(desired.units).filter(
    (u) => installed.units[u] !== undefined && installed.units[u] !== desired.units[u],
  );
  const removed = names(installed.units).filter((u) => desired.units[u] === undefined);
  const newCommit = installed.commit !== desired.commit;
  const steps: Step[] = [];

  for (const unit of [...added, ...changed])
    steps.push({ action: 'write-unit', unit, content: desired.units[unit]! });
  for (const unit of removed)
    steps.push(
      { action: 'stop', unit },
      { action: 'disable', unit },
      { action: 'remove-unit', unit },
    );
  if (added.length + changed.length + removed.length > 0) steps.push({ action: 'daemon-reload' });
  if (newCommit)
    steps.push(
      desired.commit === undefined
        ? { action: 'remove-current' }
        : { action: 'switch-current', commit: desired.commit },
    );

  for (const unit of added) {
    if (!isLongRunning(unit, desired.units[unit]!)) continue;
    steps.push({ action: 'enable', unit }, { action: 'start', unit });
  }
  for (const unit of names(desired.units)) {
    if (added.includes(unit) || !isLongRunning(unit, desired.units[unit]!)) continue;
    // A service restarts when its unit changed, or when the release's code did; timers
    // only when their own unit changed (their job runs the new code on its next run).
    const codeMatters = newCommit && desired.codeChanged && unit.endsWith('.service');
    if (changed.includes(unit) || codeMatters || desired.restart?.includes(unit))
      steps.push({ action: 'restart', unit });
  }
  return steps;
}

/** One line per step, for `piot deploy --dry-run` and logs. */
export function describePlan(steps: Step[]): string {
  if (steps.length === 0) return 'nothing to do';
  return steps
    .map((step) => {
      switch (step.action) {
        case 'write-unit':
          return `write ${step.unit}`;
        case 'daemon-reload':
          return 'reload systemd';
        case 'switch-current':
          return `switch current → ${step.commit.slice(0, 12)}`;
        case 'remove-current':
          return 'remove current';
        default:
          return `${step.action} ${step.unit}`;
      }
    })
    .join('\n');
}
