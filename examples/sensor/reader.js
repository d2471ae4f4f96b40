// Reads a (simulated) temperature every INTERVAL seconds, keeps the last 100
// readings in memory and in readings.jsonl, and serves them over HTTP.
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

const interval = Number(process.env.INTERVAL ?? 5) * 1000;
const port = Number(process.env.PORT ?? 8080);
const dataDir = process.env.STATE_DIRECTORY ?? '.';
const readings = [];

function read() {
  const reading = { at: new Date().toISOString(), celsius: 20 + 5 * Math.sin(Date.now() / 60_000) };
  readings.push(reading);
  if (readings.length > 100) readings.shift();
  appendFileSync(join(dataDir, 'readings.jsonl'), `${JSON.stringify(reading)}\n`);
}

read();
setInterval(read, interval);
createServer((req, res) => {
  const body = req.url === '/health' ? { ok: true, readings: readings.length } : readings;
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}).listen(port, '127.0.0.1', () => console.log(`reader: serving on 127.0.0.1:${port}`));
