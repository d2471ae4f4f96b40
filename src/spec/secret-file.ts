import { z } from 'zod';
import { DEVICE_NAME } from './device.js';
import { SECRET_PATTERN } from './schema.js';

/** Where a repository keeps its encrypted secrets: `.piot/secrets/<NAME>.yaml`. */
export const SECRETS_DIR = '.piot/secrets';

const AGE_RECIPIENT = /^age1[02-9ac-hj-np-z]{58}$/;
const recipients = (who: string) =>
  z.record(
    z.string().regex(DEVICE_NAME, { error: `is not ${who} name` }),
    z.string().regex(AGE_RECIPIENT, { error: 'is not an age X25519 public key (age1…)' }),
  );

/**
 * The schema of one encrypted secret, `.piot/secrets/<NAME>.yaml`: which devices were
 * selected, the public keys it is encrypted to, and the age-encrypted value (ASCII armor).
 * Nothing in it is secret; the value is readable only with one of the listed keys.
 */
export const secretFileSchema = z
  .strictObject({
    version: z.literal(1, { error: 'must be 1' }),
    devices: z
      .array(z.string().min(1))
      .optional()
      .meta({ description: 'The selectors given to --devices; absent: every device.' }),
    recipients: z
      .strictObject({
        devices: recipients('a device').default({}),
        operators: recipients('an operator').default({}),
      })
      .meta({ description: 'The keys the value is encrypted to, by device and operator name.' }),
    value: z
      .string()
      .startsWith('-----BEGIN AGE ENCRYPTED FILE-----', { error: 'is not age ASCII armor' })
      .meta({ description: 'The age-encrypted value.' }),
  })
  .meta({ title: 'PioT encrypted secret (.piot/secrets/NAME.yaml)' });

/** A parsed secret file. */
export type SecretFile = z.output<typeof secretFileSchema>;

/** True if name can be a secret's name (and so a file name under .piot/secrets). */
export function isSecretName(name: string): boolean {
  return new RegExp(SECRET_PATTERN).test(name);
}

/** The repository path of a secret's file. */
export function secretFilePath(name: string): string {
  return `${SECRETS_DIR}/${name}.yaml`;
}
