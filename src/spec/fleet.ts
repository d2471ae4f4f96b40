import { z } from 'zod';
import { DEVICE_NAME } from './device.js';

/** The schema of `.piot/fleet.yaml`: devices, their tags and public keys. */
export const fleetSchema = z
  .strictObject({
    version: z.literal(1, { error: 'must be 1' }),
    devices: z
      .record(
        z.string().regex(DEVICE_NAME, {
          error: 'is not a device name (a hostname: lowercase letters, digits, "-")',
        }),
        z.strictObject({
          tags: z
            .array(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, { error: 'is not a tag name' }))
            .optional(),
          age: z
            .string()
            .regex(/^age1[02-9ac-hj-np-z]{58}$/, {
              error: 'is not an age X25519 public key (age1…)',
            })
            .optional()
            .meta({ description: 'Public key secrets are encrypted to.' }),
          signing: z
            .string()
            .min(1)
            .optional()
            .meta({ description: 'Public key the device authenticates to the hub with.' }),
        }),
      )
      .default({}),
    operators: z
      .record(
        z
          .string()
          .regex(DEVICE_NAME, { error: 'is not an operator name (lowercase, digits, "-")' }),
        z.string().regex(/^age1[02-9ac-hj-np-z]{58}$/, {
          error: 'is not an age X25519 public key (age1…)',
        }),
      )
      .optional()
      .meta({
        description:
          'People who manage secrets: every secret is also encrypted to them, so `piot secrets rekey` can read it.',
      }),
  })
  .meta({ title: 'PioT fleet inventory (.piot/fleet.yaml)' });

/** A parsed `.piot/fleet.yaml`. */
export type Fleet = z.output<typeof fleetSchema>;
