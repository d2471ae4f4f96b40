// Sends a measurement to the collector every INTERVAL seconds; keeps going when
// the collector is unreachable.
import { hostname } from 'node:os';

const url = `${process.env.COLLECTOR_URL}/measurements`;
async function send() {
  try {
    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ device: hostname(), value: Math.random() }),
    });
  } catch (error) {
    console.error(`producer: collector unreachable (${error.message})`);
  }
}
setInterval(send, Number(process.env.INTERVAL ?? 10) * 1000);
await send();
