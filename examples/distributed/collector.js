// Collects measurements POSTed by producers, keeps them in measurements.jsonl,
// and serves a per-device summary. `--compact` keeps only the last day.
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const file = join(process.env.STATE_DIRECTORY ?? '.', 'measurements.jsonl');
const load = () =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];

if (process.argv.includes('--compact')) {
  const dayAgo = Date.now() - 86_400_000;
  const kept = load().filter((m) => Date.parse(m.at) >= dayAgo);
  writeFileSync(file, kept.map((m) => `${JSON.stringify(m)}\n`).join(''));
  console.log(`compact: kept ${kept.length} measurements`);
} else {
  createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/measurements') {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        appendFileSync(
          file,
          `${JSON.stringify({ ...JSON.parse(body), at: new Date().toISOString() })}\n`,
        );
        res.writeHead(204).end();
      });
      return;
    }
    const summary = {};
    for (const m of load()) summary[m.device] = (summary[m.device] ?? 0) + 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(req.url === '/health' ? { ok: true } : summary));
  }).listen(Number(process.env.PORT ?? 9000), () => console.log('collector: listening'));
}
