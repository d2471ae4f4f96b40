import { z } from 'zod';
import { DURATION_PATTERN } from './duration.js';
import { parseSchedule, ScheduleError } from './schedule.js';

/** Names usable inside systemd unit names `piot-<app>-<name>.service`. */
export const NAME_PATTERN = '^[a-z0-9][a-z0-9_-]{0,39}$';
export const APP_PATTERN = '^[a-z][a-z0-9-]{0,39}$';
export const SECRET_PATTERN = '^[A-Z_][A-Z0-9_]{0,63}$';
export const ENV_PATTERN = '^[A-Za-z_][A-Za-z0-9_]*$';
export const SELECTOR_PATTERN =
  '^(tag:[a-z0-9][a-z0-9_-]{0,39}|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)$';
const APT_PATTERN = '^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?$';
const IPV4_CIDR =
  '^((25[0-5]|2[0-4]\\d|1?\\d?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1?\\d?\\d)\\/(3[0-2]|[12]?\\d)$';
const IPV4 = '^((25[0-5]|2[0-4]\\d|1?\\d?\\d)\\.){3}(25[0-5]|2[0-4]\\d|1?\\d?\\d)$';

const duration = (description: string, example: string) =>
  z
    .string()
    .regex(new RegExp(DURATION_PATTERN), { error: 'is not a duration' })
    .meta({ description, examples: [example] });

const envMap = z
  .record(
    z
      .string()
      .regex(new RegExp(ENV_PATTERN), { error: 'is not a valid environment variable name' }),
    z.union([z.string(), z.number(), z.boolean()]),
  )
  .meta({
    description: 'Environment variables. Numbers and booleans are passed as their text.',
    examples: [{ LOG_LEVEL: 'info' }],
  });

const selectors = z
  .array(
    z.string().regex(new RegExp(SELECTOR_PATTERN), {
      error: 'is not a device selector (a device name or tag:NAME)',
    }),
  )
  .meta({
    description:
      'Devices this runs on: device names or `tag:NAME` (tags from `.piot/fleet.yaml`). Default: every device.',
    examples: [['tag:sensors', 'kitchen']],
  });

const secretNames = z
  .array(z.string().regex(new RegExp(SECRET_PATTERN), { error: 'is not a secret name' }))
  .meta({
    description: "Which of the app's `secrets` this one receives. Default: all of them.",
    examples: [['API_TOKEN']],
  });

const user = z.enum(['app', 'root']).meta({
  description:
    '`app` (default): a dedicated unprivileged user for the app; `root` for hardware access that needs it.',
});

const schedule = z
  .string()
  .superRefine((value, ctx) => {
    try {
      parseSchedule(value);
    } catch (error) {
      if (!(error instanceof ScheduleError)) throw error;
      ctx.addIssue({
        code: 'custom',
        message: `bad schedule: ${error.message}`,
        params: {
          hint: 'use cron ("0 3 * * *", "@daily") or a systemd calendar expression ("daily", "*-*-* 03:00:00")',
        },
      });
    }
  })
  .meta({
    description:
      'When the job runs: cron (`0 3 * * *`, `@daily`) or a systemd calendar expression (`daily`, `Mon..Fri 09:00`).',
    examples: ['0 3 * * *'],
  });

const health = z
  .strictObject({
    http: z
      .url({ protocol: /^https?$/, error: 'is not an http(s) URL' })
      .optional()
      .meta({
        description: 'Healthy when a GET of this URL answers 2xx.',
        examples: ['http://127.0.0.1:8080/health'],
      }),
    command: z
      .string()
      .min(1)
      .optional()
      .meta({
        description: 'Healthy when this command exits 0 (run in the release directory).',
        examples: ['./check.sh'],
      }),
    timeout: duration(
      'How long the check may keep failing after a start before the release is unhealthy.',
      '60s',
    ).optional(),
  })
  .meta({ description: 'How to tell that the service works. Give `http` or `command`.' });

const service = z
  .strictObject({
    run: z
      .string()
      .min(1, { error: 'must not be empty' })
      .meta({
        description: 'The command, run in the release directory.',
        examples: ['python3 sensor.py'],
      }),
    env: envMap.optional(),
    secrets: secretNames.optional(),
    restart: z.enum(['always', 'on-failure', 'never']).optional().meta({
      description: 'When systemd restarts the process: `always` (default), `on-failure`, `never`.',
    }),
    user: user.optional(),
    devices: selectors.optional(),
    depends: z
      .array(z.string())
      .optional()
      .meta({ description: 'Services of this app started before this one.', examples: [['db']] }),
    health: health.optional(),
  })
  .meta({ description: 'A long-running process, run as a systemd service.' });

const job = z
  .strictObject({
    run: z
      .string()
      .min(1, { error: 'must not be empty' })
      .meta({
        description: 'The command, run in the release directory.',
        examples: ['./backup.sh'],
      }),
    schedule: schedule.optional(),
    once: z.enum(['release', 'device']).optional().meta({
      description:
        "`release`: once per new release, before the switch; `device`: once in the device's life. Give `schedule` or `once`.",
    }),
    timeout: duration('Killed and recorded as timed out after this long.', '10m').optional(),
    retries: z
      .int()
      .min(0)
      .max(10)
      .optional()
      .meta({
        description: 'Extra attempts after a failure, with back-off (0-10).',
        examples: [3],
      }),
    jitter: duration(
      'Random delay added to each scheduled run, so a fleet does not start at once.',
      '5m',
    ).optional(),
    env: envMap.optional(),
    secrets: secretNames.optional(),
    user: user.optional(),
    devices: selectors.optional(),
  })
  .meta({ description: 'A periodic (`schedule`) or one-off (`once`) job.' });

const ipv4 = z
  .strictObject({
    address: z
      .string()
      .regex(new RegExp(IPV4_CIDR), { error: 'is not an IPv4 address with prefix' })
      .meta({
        description: 'Static address with prefix length.',
        examples: ['192.168.1.50/24'],
      }),
    gateway: z
      .string()
      .regex(new RegExp(IPV4), { error: 'is not an IPv4 address' })
      .optional()
      .meta({
        examples: ['192.168.1.1'],
      }),
    dns: z
      .array(z.string().regex(new RegExp(IPV4), { error: 'is not an IPv4 address' }))
      .optional()
      .meta({ examples: [['192.168.1.1']] }),
  })
  .meta({ description: 'A static IPv4 configuration instead of DHCP.' });

const wifi = z
  .strictObject({
    ssid: z
      .string()
      .min(1)
      .max(32, { error: 'is longer than 32 bytes' })
      .meta({ examples: ['Workshop'] }),
    psk: z
      .string()
      .optional()
      .meta({
        description:
          'The passphrase (8-63 characters) or, better, `secret:NAME` naming one of `secrets`. Omit for an open network.',
        examples: ['secret:WORKSHOP_PSK'],
      }),
    priority: z
      .int()
      .min(-999)
      .max(999)
      .optional()
      .meta({
        description: 'Higher is preferred when several networks are in range.',
        examples: [10],
      }),
    hidden: z
      .boolean()
      .optional()
      .meta({ description: 'The network does not broadcast its SSID.' }),
    ipv4: ipv4.optional(),
  })
  .meta({ description: 'A Wi-Fi network the device may join.' });

const ethernet = z
  .strictObject({
    interface: z
      .string()
      .regex(/^[a-z][a-z0-9]{0,14}$/, { error: 'is not an interface name' })
      .optional()
      .meta({
        description: 'Interface name, default `eth0`.',
        examples: ['eth0'],
      }),
    ipv4,
  })
  .meta({ description: 'A wired interface with a static address.' });

/** The schema of `.piot.yaml` version 1. */
export const piotYamlSchema = z
  .strictObject({
    version: z
      .literal(1, { error: 'must be 1' })
      .meta({ description: 'Format version. Must be `1`.' }),
    app: z
      .string()
      .regex(new RegExp(APP_PATTERN), {
        error:
          'is not a valid app name (lowercase letters, digits and "-", starting with a letter, at most 40)',
      })
      .meta({
        description: 'The application name; used in unit and user names.',
        examples: ['weather-station'],
      }),
    setup: z
      .strictObject({
        apt: z
          .array(
            z.string().regex(new RegExp(APT_PATTERN), { error: 'is not a Debian package name' }),
          )
          .optional()
          .meta({
            description: 'Debian packages to have installed (installed when this list changes).',
            examples: [['python3-serial']],
          }),
        run: z
          .array(z.string().min(1))
          .optional()
          .meta({
            description:
              'Commands run in order, as root, in each new release directory before it starts (a release is a fresh checkout).',
            examples: [['npm ci --omit=dev']],
          }),
      })
      .optional()
      .meta({
        description:
          'Prepares a release on the device before its services start; a failure keeps the running release.',
      }),
    env: envMap.optional(),
    secrets: z
      .array(
        z
          .string()
          .regex(new RegExp(SECRET_PATTERN), { error: 'is not a secret name (UPPER_CASE)' }),
      )
      .optional()
      .meta({
        description: 'Secret names set with `piot secrets set`.',
        examples: [['API_TOKEN']],
      }),
    services: z
      .record(z.string(), service)
      .optional()
      .meta({ description: 'Long-running processes, by name.' }),
    jobs: z
      .record(z.string(), job)
      .optional()
      .meta({ description: 'Periodic and one-off jobs, by name.' }),
    network: z
      .strictObject({
        wifi: z.array(wifi).optional(),
        ethernet: z.array(ethernet).optional(),
        check_timeout: duration(
          'How long a changed network has to reach the repository before the agent reverts it.',
          '2m',
        ).optional(),
      })
      .optional()
      .meta({
        description: 'Connections applied with an automatic revert if connectivity is lost.',
      }),
    deploy: z
      .strictObject({
        health_timeout: duration('How long a new release has to become healthy.', '60s').optional(),
        keep_releases: z
          .int()
          .min(1)
          .max(20)
          .optional()
          .meta({
            description: 'How many releases stay on the device for rollback (1-20, default 3).',
            examples: [3],
          }),
      })
      .optional()
      .meta({ description: 'How releases are rolled out on the device.' }),
  })
  .meta({
    title: 'PioT application (.piot.yaml)',
    description: 'How PioT runs an application on Raspberry Pis. Reference: docs/piot-yaml.md.',
  });

/** A parsed and checked `.piot.yaml`. */
export type PiotYaml = z.output<typeof piotYamlSchema>;
export type ServiceSpec = NonNullable<PiotYaml['services']>[string];
export type JobSpec = NonNullable<PiotYaml['jobs']>[string];
