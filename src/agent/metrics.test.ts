import { afterEach, describe, expect, it } from 'vitest';
import { collectAll } from './collectors/index.js';
import { fixtureContext } from './collectors/test-context.js';
import type { Sample } from './collectors/types.js';
import {
  CONTENT_TYPE,
  renderPrometheus,
  startMetricsServer,
  type MetricsServer,
} from './metrics.js';

const VALUE_CHARS = String.raw`(?:[^"\\\n]|\\[\\"n])*`;
const LABEL = new RegExp(String.raw`([a-zA-Z_][a-zA-Z0-9_]*)="(${VALUE_CHARS})"`, 'g');
const SAMPLE = new RegExp(
  String.raw`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="${VALUE_CHARS}",?)*)\})? (NaN|[+-]Inf|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$`,
);

/** Parses text format 0.0.4 strictly enough to catch what Prometheus would reject. */
function parseExposition(text: string) {
  expect(text.endsWith('\n')).toBe(true);
  const families = new Map<string, { help?: string; type?: string }>();
  const series = new Set<string>();
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  let current = '';
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string];
      const family = families.get(name) ?? {};
      if (kind === 'HELP') {
        if (family.help !== undefined || family.type !== undefined)
          throw new Error(`second HELP: ${line}`);
        family.help = rest;
      } else {
        if (family.type !== undefined || !/^(gauge|counter)$/.test(rest))
          throw new Error(`bad TYPE: ${line}`);
        family.type = rest;
      }
      families.set(name, family);
      current = name;
      continue;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a sample line: ${JSON.stringify(line)}`);
    const [, name, labelText = '', value] = match as unknown as [
      string,
      string,
      string | undefined,
      string,
    ];
    if (name !== current || families.get(name)?.type === undefined)
      throw new Error(`sample outside its family: ${line}`);
    if (series.has(`${name}{${labelText}}`)) throw new Error(`duplicate series: ${line}`);
    series.add(`${name}{${labelText}}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of labelText.matchAll(LABEL)) {
      labels[k!] = v!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name, labels, value: Number(value) });
  }
  return { families: [...families.keys()], samples };
}

const g = (name: string, value: number, labels?: Record<string, string>): Sample => ({
  name,
  help: `Help of ${name}.`,
  type: 'gauge',
  value,
  labels,
});

describe('renderPrometheus', () => {
  it('writes HELP and TYPE once per family, families sorted, labels sorted, duplicates dropped', () => {
    const text = renderPrometheus([
      g('b_metric', 2, { zone: '1', type: 'x' }),
      { name: 'a_total', help: 'Counts\\things\nhere.', type: 'counter', value: 10 },
      g('b_metric', 3, { type: 'y', zone: '2' }),
      g('b_metric', 99, { zone: '1', type: 'x' }),
    ]);
    expect(text).toBe(
      [
        '# HELP a_total Counts\\\\things\\nhere.',
        '# TYPE a_total counter',
        'a_total 10',
        '# HELP b_metric Help of b_metric.',
        '# TYPE b_metric gauge',
        'b_metric{type="x",zone="1"} 2',
        'b_metric{type="y",zone="2"} 3',
        '',
      ].join('\n'),
    );
  });

  it('escapes backslash, quote and newline in label values', () => {
    const text = renderPrometheus([g('m', 1, { path: 'C:\\dir "quoted"\nnext' })]);
    expect(text).toContain(String.raw`m{path="C:\\dir \"quoted\"\nnext"} 1`);
    expect(parseExposition(text).samples[0]!.labels.path).toBe('C:\\dir "quoted"\nnext');
  });

  it('spells special values and repairs invalid names', () => {
    const text = renderPrometheus([
      g('n', NaN),
      g('p', Infinity),
      g('q', -Infinity),
      g('bad-name.x', 1, { 'a-b': 'v' }),
    ]);
    expect(text).toContain('\nn NaN\n');
    expect(text).toContain('\np +Inf\n');
    expect(text).toContain('\nq -Inf\n');
    expect(text).toContain('\nbad_name_x{a_b="v"} 1\n');
    expect(() => parseExposition(text)).not.toThrow();
  });

  it('renders nothing for no samples', () => {
    expect(renderPrometheus([])).toBe('');
  });

  it('renders the whole Pi 4 fixture as valid, deterministic exposition', async () => {
    const ctx = fixtureContext('pi4');
    const text = renderPrometheus(await collectAll(ctx));
    const { families, samples } = parseExposition(text);
    expect(families).toEqual([...families].sort());
    expect(samples).toContainEqual({
      name: 'node_thermal_zone_temp',
      labels: { type: 'cpu-thermal', zone: '0' },
      value: 48.686,
    });
    expect(samples).toContainEqual({ name: 'piot_rpi_under_voltage_now', labels: {}, value: 1 });
    const withoutDurations = (t: string) => t.replace(/^piot_collector_duration_seconds.*$/gm, '');
    expect(withoutDurations(renderPrometheus(await collectAll(ctx)))).toBe(withoutDurations(text));
  });
});

describe('startMetricsServer', () => {
  let server: MetricsServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves the Pi 4 fixture on /metrics and nothing else', async () => {
    const ctx = fixtureContext('pi4');
    server = await startMetricsServer({ port: 0, collect: () => collectAll(ctx) });
    expect(server.host).toBe('127.0.0.1');
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);

    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(CONTENT_TYPE);
    expect(res.headers.get('date')).toBeNull();
    const body = await res.text();
    expect(body).toContain('\nnode_thermal_zone_temp{type="cpu-thermal",zone="0"} 48.686\n');
    expect(body).toContain('\npiot_root_readonly 0\n');
    expect(() => parseExposition(body)).not.toThrow();

    expect((await fetch(`${server.url}?debug=1`)).status).toBe(200);
    const head = await fetch(server.url, { method: 'HEAD' });
    expect([head.status, await head.text()]).toEqual([200, '']);
    expect((await fetch(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics/x`)).status).toBe(404);
    const post = await fetch(server.url, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers 500 when collecting fails, and keeps serving', async () => {
    let fail = true;
    const errors: unknown[] = [];
    server = await startMetricsServer({
      port: 0,
      collect: () => (fail ? Promise.reject(new Error('boom')) : Promise.resolve([g('up', 1)])),
      onError: (error) => errors.push(error),
    });
    expect((await fetch(server.url)).status).toBe(500);
    expect(errors).toEqual([new Error('boom')]);
    fail = false;
    expect(await (await fetch(server.url)).text()).toBe(
      '# HELP up Help of up.\n# TYPE up gauge\nup 1\n',
    );
  });

  it('shares one collection between concurrent scrapes', async () => {
    let calls = 0;
    server = await startMetricsServer({
      port: 0,
      collect: async () => {
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return [g('up', 1)];
      },
    });
    const url = server.url;
    const bodies = await Promise.all([1, 2, 3].map(async () => (await fetch(url)).text()));
    expect(new Set(bodies).size).toBe(1);
    expect(calls).toBe(1);
  });

  it('rejects when the port is taken', async () => {
    server = await startMetricsServer({ port: 0, collect: () => Promise.resolve([]) });
    await expect(
      startMetricsServer({ port: server.port, collect: () => Promise.resolve([]) }),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
