import type { HubCommand, HubCommandResult } from './client.js';

/** The running release as commands need it. */
export interface RunningRelease {
  app: string;
  services: ReadonlySet<string>;
  jobs: ReadonlySet<string>;
}

/** What the device does for the hub's commands; the real one drives systemd and the agent. */
export interface CommandHost {
  release(): Promise<RunningRelease | undefined>;
  /** Runs a deploy cycle now and describes how it ended. */
  deployNow(): Promise<{ ok: boolean; message: string }>;
  /** Starts a job and waits for it. */
  runJob(app: string, job: string): Promise<{ ok: boolean; message: string; output: string[] }>;
  restartService(app: string, service: string): Promise<void>;
  /** The last lines of the journal of these units (none: the agent's). */
  journal(units: string[], lines: number): Promise<string[]>;
  /** Reboots the device (after the answer has been sent). */
  reboot(): Promise<void>;
}

/** A command carried out: the answer for the hub, and what to do once it is sent. */
export interface Outcome {
  result: HubCommandResult;
  after?: () => Promise<void>;
}

const AGENT_UNIT = 'piot-agent.service';

const failed = (message: string): Outcome => ({ result: { ok: false, message } });

function name(args: HubCommand['args'], key: string): string | undefined {
  const value = args?.[key];
  return typeof value === 'string' && /^[a-z0-9][a-z0-9-]{0,62}$/.test(value) ? value : undefined;
}

function known(what: string, value: string, app: string, names: ReadonlySet<string>): string {
  const list = [...names].sort().join(', ') || 'none';
  return `${app} has no ${what} "${value}" on this device (${what}s: ${list})`;
}

/** Carries out one command from the hub; never throws (a failure is the answer). */
export async function carryOut(command: HubCommand, host: CommandHost): Promise<Outcome> {
  try {
    switch (command.kind) {
      case 'deploy': {
        const { ok, message } = await host.deployNow();
        return { result: { ok, message } };
      }
      case 'reboot':
        return { result: { ok: true, message: 'rebooting' }, after: () => host.reboot() };
      case 'run-job': {
        const job = name(command.args, 'job');
        const release = await host.release();
        if (!release) return failed('no release is running on this device yet');
        if (!job || !release.jobs.has(job))
          return failed(known('job', job ?? '?', release.app, release.jobs));
        const run = await host.runJob(release.app, job);
        return { result: { ok: run.ok, message: run.message, output: run.output.slice(-1000) } };
      }
      case 'restart-service': {
        const service = name(command.args, 'service');
        const release = await host.release();
        if (!release) return failed('no release is running on this device yet');
        if (!service || !release.services.has(service))
          return failed(known('service', service ?? '?', release.app, release.services));
        await host.restartService(release.app, service);
        return { result: { ok: true, message: `restarted ${service}` } };
      }
      case 'logs': {
        const lines = Number(command.args?.lines ?? 100);
        const count = Number.isInteger(lines) && lines > 0 ? Math.min(lines, 1000) : 100;
        const service =
          command.args?.service === undefined ? undefined : name(command.args, 'service');
        if (command.args?.service !== undefined && !service) return failed('not a service name');
        let units = [AGENT_UNIT];
        if (service) {
          const release = await host.release();
          if (!release) return failed('no release is running on this device yet');
          if (!release.services.has(service) && !release.jobs.has(service)) {
            const all = new Set([...release.services, ...release.jobs]);
            return failed(known('service', service, release.app, all));
          }
          units = [`piot-${release.app}-${service}.service`];
        }
        const output = await host.journal(units, count);
        return {
          result: { ok: true, message: `${output.length} lines of ${units[0]}`, output },
        };
      }
      default:
        return failed(`this agent does not know the command "${command.kind.slice(0, 40)}"`);
    }
  } catch (error) {
    return failed(error instanceof Error ? error.message : String(error));
  }
}
