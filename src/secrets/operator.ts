import { UserError } from '../errors.js';
import { DEVICE_NAME } from '../spec/device.js';
import { createOperatorKey, type OperatorKey } from './operator-key.js';
import { addOperator, type SecretsRepo } from './repo.js';

/** What making the user an operator of the fleet takes. */
export interface OperatorPlan {
  /** The operator's name in .piot/fleet.yaml. */
  name: string;
  keyPath: string;
  /** The key, when it exists already. */
  key: OperatorKey | undefined;
  createKey: boolean;
  addToFleet: boolean;
}

/**
 * Decides (without writing) whether the user's key must be made and added to the fleet's
 * operators under name. A name already taken by another key is an error: replacing it would
 * silently take a colleague's (or a lost key's) access away.
 */
export function planOperator(
  repo: SecretsRepo,
  options: { name: string; keyPath: string; key: OperatorKey | undefined },
): OperatorPlan {
  const operators = repo.fleet.operators ?? {};
  const { key, keyPath } = options;
  const known = key && Object.entries(operators).find(([, r]) => key.recipients.includes(r));
  if (known) return { name: known[0], keyPath, key, createKey: false, addToFleet: false };
  if (!DEVICE_NAME.test(options.name)) {
    throw new UserError(
      `"${options.name}" is not an operator name: lowercase letters, digits and "-"`,
      { hint: 'give another with --operator NAME' },
    );
  }
  if (operators[options.name]) {
    throw new UserError(
      `operator "${options.name}" in .piot/fleet.yaml has another key than yours (${keyPath})`,
      {
        hint: `use another name (--operator NAME); if that key is lost, delete operators.${options.name} from .piot/fleet.yaml first`,
      },
    );
  }
  return { name: options.name, keyPath, key, createKey: !key, addToFleet: true };
}

/** Makes the key and records it in the fleet as planned; returns the key and what was done. */
export async function applyOperator(
  repo: SecretsRepo,
  plan: OperatorPlan,
): Promise<{ key: OperatorKey; notes: string[] }> {
  const notes: string[] = [];
  const key = plan.key ?? (await createOperatorKey(plan.keyPath));
  if (plan.createKey) {
    notes.push(
      `made your operator key ${plan.keyPath} (0600): it can read every secret of this fleet; back it up and keep it private`,
    );
  }
  if (plan.addToFleet) {
    await addOperator(repo, plan.name, key.recipients[0]!);
    notes.push(
      `added operator ${plan.name} (${key.recipients[0]}) to .piot/fleet.yaml: every secret is also encrypted to it; commit it`,
    );
  }
  return { key, notes };
}
