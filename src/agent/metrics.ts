import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Sample } from './collectors/types.js';

/** The Content-Type of the Prometheus text exposition format 0.0.4. */
export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A name cleaned once: every scrape renders the same few hundred names and label names, and
 * on the device (node without its JIT) each regular expression run is dear. Bounded, since
 * the hub renders names its devices chose.
 */
function remembered(clean: (name: string) => string): (name: string) => string {
  const seen = new Map<string, string>();
  return (name) => {
    let cleaned = seen.get(name);
    if (cleaned === undefined) {
      if (seen.size >= 10_000) seen.clear();
      cleaned = clean(name);
      seen.set(name, cleaned);
    }
    return cleaned;
  };
}
const metricName = remembered((name) =>
  name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^(?=\d)/, '_'),
);
const labelName = remembered((name) => name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^(?=\d)/, '_'));
const escapeHelp = (text: string) =>
  text.includes('\\') || text.includes('\n')
    ? text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
    : text;
const escapeLabel = (value: string) =>
  value.includes('\\') || value.includes('\n') || value.includes('"')
    ? value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
    : value;

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function series(name: string, labels: Record<string, string> | undefined): string {
  if (labels === undefined) return name;
  const keys = Object.keys(labels);
  if (keys.length === 0) return name;
  if (keys.length === 1)
    return `${name}{${labelName(keys[0]!)}="${escapeLabel(labels[keys[0]!]!)}"}`;
  const pairs = keys
    .map((k) => [labelName(k), labels[k]!] as const)
    .sort(([a], [b]) => cmp(a, b))
    .map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return `${name}{${pairs.join(',')}}`;
}

/**
 * Samples as Prometheus text format 0.0.4: families sorted by name, HELP and TYPE once each
 * (from the family's first sample), labels sorted, a repeated series kept only the first time.
 */
export function renderPrometheus(samples: readonly Sample[]): string {
  const families = new Map<string, { help: string; type: string; lines: Map<string, string> }>();
  for (const sample of samples) {
    const name = metricName(sample.name);
    let family = families.get(name);
    if (!family) {
      family = { help: sample.help, type: sample.type, lines: new Map() };
      families.set(name, family);
    }
    const key = series(name, sample.labels);
    if (!family.lines.has(key)) family.lines.set(key, `${key} ${formatValue(sample.value)}`);
  }
  const out: string[] = [];
  for (const name of [...families.keys()].sort(cmp)) {
    const family = families.get(name)!;
    out.push(`# HELP ${name} ${escapeHelp(family.help)}`, `# TYPE ${name} ${family.type}`);
    out.push(...family.lines.values());
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** A running /metrics endpoint. */
export interface MetricsServer {
  /** The address actually bound (port 0 picks a free one). */
  host: string;
  port: number;
  /** `http://host:port/metrics`. */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /metrics` (and HEAD) from `collect` on host (default 127.0.0.1) and port;
 * 404 elsewhere, 405 for other methods, 500 if collecting fails. Concurrent scrapes share
 * one collection. Resolves once listening; rejects if the port cannot be bound.
 */
export async function startMetricsServer(options: {
  host?: string;
  port: number;
  collect: () => Promise<Sample[]>;
  onError?: (error: unknown) => void;
}): Promise<MetricsServer> {
  let inflight: Promise<string> | undefined;
  const scrape = () =>
    (inflight ??= options
      .collect()
      .then(renderPrometheus)
      .finally(() => (inflight = undefined)));

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    let path = '';
    try {
      path = new URL(req.url ?? '/', 'http://localhost').pathname;
    } catch {
      // An unparsable target is just not /metrics.
    }
    if (path !== '/metrics') return reply(res, 404, 'Not Found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return reply(res, 405, 'Method Not Allowed\n');
    }
    let body: string;
    try {
      body = await scrape();
    } catch (error) {
      options.onError?.(error);
      return reply(res, 500, 'collecting metrics failed\n');
    }
    res.writeHead(200, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  const server = createServer((req, res) => {
    // No Date header: Prometheus does not read it, and formatting one would set up ICU's
    // time-zone data in the agent (see isoTime).
    res.sendDate = false;
    handle(req, res).catch((error: unknown) => {
      options.onError?.(error);
      if (!res.headersSent) reply(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => options.onError?.(error));
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    host: address.address,
    port: address.port,
    url: `http://${hostPart}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

function reply(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(text);
}
