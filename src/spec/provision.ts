import { z } from 'zod';
import { DEVICE_NAME } from './device.js';

/**
 * The schema of a provisioning file (`piot image configure --from FILE`): the same settings
 * as the command's flags, for one device. Flags given as well take precedence.
 */
export const provisionSchema = z
  .strictObject({
    version: z.literal(1, { error: 'must be 1' }),
    device: z
      .string()
      .regex(DEVICE_NAME, { error: 'is not a device name (a hostname)' })
      .optional(),
    tags: z
      .array(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,39}$/, { error: 'is not a tag name' }))
      .optional(),
    user: z.string().optional(),
    password_hash: z.string().optional(),
    ssh_keys: z
      .array(z.string())
      .optional()
      .meta({ description: 'Public keys (one line each) or paths to .pub files.' }),
    wifi: z
      .array(
        z.strictObject({
          ssid: z.string(),
          psk: z.string().optional(),
          hidden: z.boolean().optional(),
          priority: z.number().int().min(-999).max(999).optional(),
        }),
      )
      .optional(),
    wifi_country: z.string().optional(),
    ip: z
      .array(
        z.strictObject({
          iface: z.string(),
          address: z.string(),
          gateway: z.string().optional(),
          dns: z.array(z.string()).optional(),
        }),
      )
      .optional(),
    repo: z.string().optional(),
    branch: z.string().optional(),
    ref: z.string().optional(),
    deploy_key: z.string().optional().meta({ description: 'Path to the private deploy key.' }),
    repo_host_keys: z.array(z.string()).optional().meta({
      description:
        "The repository server's SSH host keys, as known_hosts lines (else pinned on first use).",
    }),
    hub: z.string().optional(),
    hub_token: z.string().optional(),
    timezone: z.string().optional(),
    locale: z.string().optional(),
    upgrade: z.boolean().optional(),
  })
  .meta({ title: 'PioT provisioning file (piot image configure --from)' });

/** A parsed provisioning file. */
export type ProvisionFile = z.output<typeof provisionSchema>;
