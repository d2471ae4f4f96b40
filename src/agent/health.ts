import type { PiotYaml } from '../spec/schema.js';
import { parseDuration } from '../spec/duration.js';

/** A service as the health gate sees it at one moment. */
export interface ServiceProbe {
  active: string;
  /** Automatic restarts since the unit was last started by hand (systemd's NRestarts). */
  restarts: number;
  /** Milliseconds the unit has been active, 0 if it is not. */
  activeForMs: number;
}

/** What the gate needs from the device; tests give fakes, the agent gives systemd and fetch. */
export interface HealthDeps {
  probe(unit: string): Promise<ServiceProbe>;
  /** Runs a service's `health:` check once; resolves to undefined when it passes, else why not. */
  check(service: string): Promise<string | undefined>;
  /** Why a unit is failing, for the report (the tail of its journal). */
  logTail(unit: string): Promise<string>;
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** One service the gate waits for. */
export interface GatedService {
  name: string;
  unit: string;
  hasCheck: boolean;
  timeoutMs: number;
}

/** How long a service without a `health:` check has to stay up to count as healthy. */
export const SETTLE_MS = 2000;
const POLL_MS = 250;
const CHECK_POLL_MS = 100;

/** The services of a release the gate waits for, with their time limits. */
export function gatedServices(spec: PiotYaml, units: Record<string, string>): GatedService[] {
  const release = parseDuration(spec.deploy?.health_timeout ?? '60s') ?? 60_000;
  return Object.entries(spec.services ?? {})
    .map(([name, service]) => ({
      name,
      unit: `piot-${spec.app}-${name}.service`,
      hasCheck: service.health !== undefined,
      timeoutMs: parseDuration(service.health?.timeout ?? '') ?? release,
    }))
    .filter((s) => units[s.unit] !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The outcome of a health gate. */
export type HealthResult = { healthy: true; ms: number } | { healthy: false; reason: string };

/**
 * Waits until every service is active and passes its check: a `health:` check that
 * succeeds, or, without one, staying up for SETTLE_MS without a restart. A service that
 * is still not healthy when its time is up fails the release; the reason names it and
 * carries its last log lines.
 */
export async function healthGate(
  services: GatedService[],
  deps: HealthDeps,
): Promise<HealthResult> {
  const start = deps.now();
  const baseline = new Map<string, number>();
  for (const s of services.filter((s) => !s.hasCheck)) {
    baseline.set(s.unit, (await deps.probe(s.unit)).restarts);
  }
  // A service with a check is judged by it: its restarts matter only to the report of a
  // failure, so the gate does not wait for them before its first check.
  let counted = Promise.resolve();
  for (const s of services.filter((s) => s.hasCheck)) {
    counted = counted.then(async () => {
      baseline.set(s.unit, (await deps.probe(s.unit)).restarts);
    });
  }
  counted = counted.catch(() => undefined);
  const pending = new Map(services.map((s) => [s.unit, s]));
  const lastWhy = new Map<string, string>();
  for (;;) {
    for (const service of [...pending.values()]) {
      let why: string | undefined;
      if (service.hasCheck) {
        // The check first: it starts no process, and until it passes, systemd's view of the
        // unit decides nothing. Once it passes, the unit must be active too.
        why = await deps.check(service.name);
        if (why === undefined) {
          const probe = await deps.probe(service.unit);
          if (probe.active !== 'active') why = `is ${probe.active}`;
        }
      } else {
        const probe = await deps.probe(service.unit);
        if (probe.active !== 'active') why = `is ${probe.active}`;
        else if (probe.restarts > baseline.get(service.unit)! || probe.activeForMs < SETTLE_MS)
          why = 'has not stayed up yet';
      }
      if (why === undefined) pending.delete(service.unit);
      else lastWhy.set(service.unit, why);
    }
    if (pending.size === 0) return { healthy: true, ms: deps.now() - start };
    const late = [...pending.values()].filter((s) => deps.now() - start >= s.timeoutMs);
    if (late.length > 0) {
      await counted;
      const reasons: string[] = [];
      for (const s of late) {
        const probe = await deps.probe(s.unit);
        const restarted = probe.restarts - (baseline.get(s.unit) ?? probe.restarts);
        const tail = (await deps.logTail(s.unit)).trim();
        // A unit that is not running says more than its failing check.
        const why = probe.active === 'active' ? lastWhy.get(s.unit) : `is ${probe.active}`;
        reasons.push(
          `service ${s.name} ${why ?? 'is not healthy'} after ${Math.round(s.timeoutMs / 1000)} s` +
            (restarted > 0 ? ` (restarted ${restarted} times)` : '') +
            (tail ? `\n${tail.replace(/^/gm, '  | ')}` : ''),
        );
      }
      return { healthy: false, reason: reasons.join('\n') };
    }
    // A check is cheap to repeat; a probe without one is a systemctl process each time.
    const checksOnly = [...pending.values()].every((s) => s.hasCheck);
    await deps.sleep(checksOnly ? CHECK_POLL_MS : POLL_MS);
  }
}
