import type { Keyfiles } from './render.js';

/** One change to the PioT-owned keyfiles. */
export type NetworkStep =
  { action: 'write'; name: string; content: string } | { action: 'remove'; name: string };

/**
 * The steps from the keyfiles on disk to the desired ones (both only PioT's own, by file
 * name); none when they are the same. Removals come first, then writes, in name order.
 */
export function planNetwork(onDisk: Keyfiles, desired: Keyfiles): NetworkStep[] {
  const steps: NetworkStep[] = [];
  for (const name of Object.keys(onDisk).sort())
    if (desired[name] === undefined) steps.push({ action: 'remove', name });
  for (const [name, content] of Object.entries(desired).sort(([a], [b]) => a.localeCompare(b)))
    if (onDisk[name] !== content) steps.push({ action: 'write', name, content });
  return steps;
}

/** The connection id of a PioT keyfile (its file name without `.nmconnection`). */
export function connectionId(name: string): string {
  return name.replace(/\.nmconnection$/, '');
}

/** One line per step, for the log and a dry run. */
export function describeNetworkPlan(steps: NetworkStep[]): string {
  return steps.map((s) => `  ${s.action} ${s.name}`).join('\n');
}
