import type { HostLooks } from './collectors/shared.js';
import { startMetricsServer, type MetricsServer } from './metrics.js';

/** Where the agent serves /metrics unless the device file says otherwise. */
export const DEFAULT_METRICS = '127.0.0.1:9101';

/** Splits `HOST:PORT` (`[v6]:PORT` too). */
export function parseListen(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const host = address.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(at + 1)) };
}

// A scrape gets a fresh collection, unless one has just been made (for a heartbeat).
const SCRAPE_MAX_AGE_MS = 1000;

/**
 * Starts the agent's /metrics endpoint on address (false: none). Collectors run only when
 * scraped (or for a heartbeat), so an idle device spends nothing on them. A port already
 * taken is logged, not fatal: deploying matters more than metrics.
 */
export async function startAgentMetrics(
  address: string | false | undefined,
  options: { looks: HostLooks; log: (message: string) => void },
): Promise<MetricsServer | undefined> {
  if (address === false) return undefined;
  const { host, port } = parseListen(address ?? DEFAULT_METRICS);
  const { log, looks } = options;
  const onError = (error: unknown) =>
    log(`metrics: ${error instanceof Error ? error.message : String(error)}`);
  try {
    const server = await startMetricsServer({
      host,
      port,
      collect: async () => (await looks(SCRAPE_MAX_AGE_MS)).samples,
      onError,
    });
    log(`serving metrics at ${server.url}`);
    return server;
  } catch (error) {
    onError(error);
    return undefined;
  }
}
