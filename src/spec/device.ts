import { z } from 'zod';
import { DURATION_PATTERN } from './duration.js';

/** A device name: a hostname label (lowercase letters, digits, "-"). */
export const DEVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The schema of `/etc/piot/device.yaml`: who this device is and what it follows. Written by
 * `piot image configure`, read by the bootstrap script and the agent.
 */
export const deviceFileSchema = z
  .strictObject({
    version: z.literal(1, { error: 'must be 1' }),
    name: z
      .string()
      .regex(DEVICE_NAME, {
        error: 'is not a device name (a hostname: lowercase letters, digits, "-")',
      })
      .meta({ description: 'The device name: its hostname and its key in .piot/fleet.yaml.' }),
    repo: z.string().min(1).meta({
      description: 'The application repository (https://, ssh://, git@host:path or a path).',
    }),
    branch: z
      .string()
      .regex(/^[A-Za-z0-9._/-]+$/, { error: 'is not a branch name' })
      .optional()
      .meta({ description: 'The branch the device follows (default main).' }),
    tags: z
      .string()
      .regex(/^[A-Za-z0-9._*?/-]+$/, { error: 'is not a tag pattern' })
      .optional()
      .meta({
        description:
          'Follow the newest tag matching this pattern (version order) instead of a branch.',
        examples: ['v*'],
      }),
    poll: z
      .string()
      .regex(new RegExp(DURATION_PATTERN), { error: 'is not a duration' })
      .optional()
      .meta({ description: 'How often the agent asks the repository for news (default 30s).' }),
    upgrade: z
      .boolean()
      .optional()
      .meta({ description: 'Run apt-get upgrade during bootstrap (default false).' }),
    deploy_key: z
      .string()
      .startsWith('/', { error: 'must be an absolute path' })
      .optional()
      .meta({ description: 'SSH key for a private repository (root-only file).' }),
    metrics: z
      .union([
        z.literal(false),
        z.string().regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, {
          error: 'is not HOST:PORT (or false)',
        }),
      ])
      .optional()
      .meta({
        description:
          'Where the agent serves /metrics in Prometheus format: HOST:PORT, or false for nowhere (default 127.0.0.1:9101, this device only; 0.0.0.0:9101 lets a Prometheus server scrape it).',
        examples: ['0.0.0.0:9101'],
      }),
    hub: z
      .strictObject({ url: z.url({ protocol: /^https?$/ }) })
      .optional()
      .meta({ description: 'The hub this device reports to.' }),
  })
  .meta({ title: 'PioT device file (/etc/piot/device.yaml)' });

/** A parsed device file. */
export type DeviceFile = z.output<typeof deviceFileSchema>;
