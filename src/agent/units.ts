import type { JobSpec, PiotYaml, ServiceSpec } from '../spec/schema.js';
import { parseDuration, toSystemdTimespan } from '../spec/duration.js';
import { onCalendar } from '../spec/schedule.js';
import { secretEnv } from './secrets.js';

/** Where an app lives on the device (DESIGN.md, device layout). */
export interface AppPaths {
  /** /opt/piot/apps/<app> */
  appDir: string;
  /** /run/piot/<app>/secrets */
  secretsDir: string;
}

/** The device-side paths of an app, under a configurable root (tests use a temp dir). */
export function appPaths(app: string, root = '/'): AppPaths {
  const base = root.endsWith('/') ? root : `${root}/`;
  return { appDir: `${base}opt/piot/apps/${app}`, secretsDir: `${base}run/piot/${app}/secrets` };
}

/** `piot-<app>-<name>` */
export function unitName(app: string, name: string, kind: 'service' | 'timer' = 'service'): string {
  return `piot-${app}-${name}.${kind}`;
}

/** The unprivileged user an app's services run as by default. */
export function appUser(app: string): string {
  return `piot-${app}`.slice(0, 32);
}

/** Escapes text for a systemd unit value: specifiers (%) and line breaks. */
function unitValue(text: string): string {
  return text.replace(/%/g, '%%').replace(/\n/g, ' ');
}

/** A command line for ExecStart: run by /bin/sh so `run:` reads like a shell line. */
function execStart(run: string): string {
  // systemd splits on whitespace and honours quotes; $ would be expanded by systemd.
  const quoted = `'exec ${run.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return `/bin/sh -c ${unitValue(quoted).replace(/\$/g, '$$$$')}`;
}

/** Where the job runner and the agent are on a device (DESIGN.md: PioT's own programs). */
export const JOB_RUNNER = '/usr/lib/piot/piot-job';
export const AGENT_BUNDLE = '/usr/lib/piot/piot-agent.mjs';

/** A job's command under PioT's runner: retries with back-off, a time limit per attempt. */
function jobExecStart(job: JobSpec): string {
  const limit = job.timeout ? Math.max(1, Math.ceil(parseDuration(job.timeout)! / 1000)) : 0;
  return `${JOB_RUNNER} ${job.retries ?? 0} ${limit} ${execStart(job.run)}`;
}

function environment(...maps: (Record<string, string | number | boolean> | undefined)[]): string[] {
  const merged = new Map<string, string>();
  for (const map of maps) for (const [k, v] of Object.entries(map ?? {})) merged.set(k, String(v));
  return [...merged.keys()]
    .sort()
    .filter((key) => !merged.get(key)!.startsWith('secret:'))
    .map((key) => {
      const value = merged.get(key)!.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
      return `Environment="${unitValue(`${key}=${value}`).replace(/\$/g, '$$$$')}"`;
    });
}

/** The [Service] lines services and jobs share: user, directory, environment, hardening. */
function serviceSection(
  spec: PiotYaml,
  name: string,
  body: ServiceSpec | JobSpec,
  paths: AppPaths,
  exec: string,
  workDir = `${paths.appDir}/current`,
): string[] {
  const user = body.user ?? 'app';
  const lines = ['[Service]'];
  if (user === 'app') lines.push(`User=${appUser(spec.app)}`, `Group=${appUser(spec.app)}`);
  lines.push(`WorkingDirectory=${workDir}`);
  lines.push(...environment(spec.env, body.env));
  if (secretEnv(spec, body).size > 0) {
    // The agent writes the secrets (root-only, tmpfs) just before each start, from the
    // release it starts; systemd reads the file after ExecStartPre= and before ExecStart=.
    lines.push(`EnvironmentFile=-${paths.secretsDir}/${name}.env`);
    lines.push(
      `ExecStartPre=+/usr/bin/node ${AGENT_BUNDLE} secrets-env ${spec.app} ${name} ${workDir}`,
    );
  }
  lines.push(`ExecStart=${exec}`);
  lines.push(`SyslogIdentifier=${spec.app}-${name}`);
  lines.push(`StateDirectory=piot/${spec.app}`, 'StateDirectoryMode=0750');
  // Hardening that ordinary apps do not notice: the OS is read-only, /tmp is private.
  lines.push('NoNewPrivileges=yes', 'PrivateTmp=yes', 'ProtectSystem=full');
  if (user === 'app') lines.push('ProtectHome=yes');
  return lines;
}

/** The unit of a long-running service; same input, same bytes. */
export function renderService(
  spec: PiotYaml,
  name: string,
  service: ServiceSpec,
  paths: AppPaths,
): string {
  const deps = (service.depends ?? []).map((d) => unitName(spec.app, d)).sort();
  const restart = { always: 'always', 'on-failure': 'on-failure', never: 'no' }[
    service.restart ?? 'always'
  ];
  const lines = [
    `# Written by PioT for the app ${spec.app}. Do not edit: the next deploy replaces it.`,
    '[Unit]',
    `Description=${unitValue(`PioT ${spec.app}: ${name}`)}`,
    `After=${['network-online.target', ...deps].join(' ')}`,
    `Wants=${['network-online.target', ...deps].join(' ')}`,
    // At shutdown the agent stops first: a deploy under way finishes its health gate while
    // the services still run, instead of watching them stop and blaming the release.
    'Before=piot-agent.service',
    'StartLimitIntervalSec=0',
    '',
    ...serviceSection(spec, name, service, paths, execStart(service.run)),
    'Type=exec',
    `Restart=${restart}`,
    'RestartSec=2',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}

/**
 * The oneshot unit that runs a job (started by its timer, the agent or `piot run`). A
 * `once: release` job runs in its own release's directory, given as `release`: it runs
 * before `current` points there.
 */
export function renderJobService(
  spec: PiotYaml,
  name: string,
  job: JobSpec,
  paths: AppPaths,
  release?: string,
): string {
  const workDir =
    job.once === 'release' && release ? `${paths.appDir}/releases/${release}` : undefined;
  const lines = [
    `# Written by PioT for the app ${spec.app}. Do not edit: the next deploy replaces it.`,
    '[Unit]',
    `Description=${unitValue(`PioT ${spec.app}: job ${name}`)}`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    ...serviceSection(spec, name, job, paths, jobExecStart(job), workDir),
    'Type=oneshot',
    // As root ("+"), whatever the job's user: records the run for `piot jobs` and the hub.
    `ExecStopPost=+/usr/bin/node ${AGENT_BUNDLE} job-done ${spec.app} ${name}`,
    '',
  ];
  return lines.join('\n');
}

/**
 * The timer of a scheduled job: cron converted to OnCalendar=, Persistent= so a run
 * missed while the Pi was off happens at boot, and the optional jitter.
 */
export function renderJobTimer(spec: PiotYaml, name: string, job: JobSpec): string {
  if (!job.schedule) throw new Error(`job ${name} has no schedule`);
  const lines = [
    `# Written by PioT for the app ${spec.app}. Do not edit: the next deploy replaces it.`,
    '[Unit]',
    `Description=${unitValue(`PioT ${spec.app}: schedule of job ${name}`)}`,
    '',
    '[Timer]',
    ...onCalendar(job.schedule).map((expression) => `OnCalendar=${unitValue(expression)}`),
    'Persistent=true',
    // systemd's default accuracy (1 min) would let a minutely job drift within its minute.
    'AccuracySec=1s',
  ];
  if (job.jitter) lines.push(`RandomizedDelaySec=${toSystemdTimespan(job.jitter)}`);
  lines.push(`Unit=${unitName(spec.app, name)}`, '', '[Install]', 'WantedBy=timers.target', '');
  return lines.join('\n');
}
