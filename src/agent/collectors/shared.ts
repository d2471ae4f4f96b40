import { collectAll } from './index.js';
import { PIOT_UNITS } from './systemd.js';
import type { CollectorContext, Sample, ServiceStatus, UnitHealth } from './types.js';

/** One collection of the whole device: every collector's samples and PioT's units. */
export interface HostLook {
  samples: Sample[];
  /** PioT's services as systemd sees them; undefined without systemd. */
  services: ServiceStatus[] | undefined;
  /** When the collection started, ms since the epoch. */
  at: number;
}

/** A collection no older than maxAgeMs: the last one if it is recent enough, else a fresh one. */
export type HostLooks = (maxAgeMs: number) => Promise<HostLook>;

/** systemd asked once per collection, however many collectors want the same answer. */
export function onceUnits(units: UnitHealth): UnitHealth {
  const services = new Map<string, ReturnType<UnitHealth['services']>>();
  let failed: ReturnType<UnitHealth['failedUnits']> | undefined;
  return {
    services(pattern) {
      if (!services.has(pattern)) services.set(pattern, units.services(pattern));
      return services.get(pattern)!;
    },
    failedUnits() {
      failed ??= units.failedUnits();
      return failed;
    },
  };
}

/**
 * Collections shared between the /metrics endpoint and the hub's heartbeats: each asks for one
 * no older than it can use, so a heartbeat right after a scrape costs nothing (on a Pi each
 * collection spawns systemctl, the dearest part of it). Concurrent askers share one collection.
 */
export function sharedLooks(
  ctx: CollectorContext,
  options: { onError?: (collector: string, error: unknown) => void } = {},
): HostLooks {
  let last: HostLook | undefined;
  let inflight: Promise<HostLook> | undefined;
  const collect = async (): Promise<HostLook> => {
    const at = ctx.now();
    const units = onceUnits(ctx.units);
    const samples = await collectAll({ ...ctx, units }, { onError: options.onError });
    const services = await units.services(PIOT_UNITS).catch(() => undefined);
    return { samples, services, at };
  };
  return (maxAgeMs) => {
    if (inflight) return inflight;
    if (last && ctx.now() - last.at <= maxAgeMs) return Promise.resolve(last);
    inflight = collect()
      .then((look) => (last = look))
      .finally(() => (inflight = undefined));
    return inflight;
  };
}
