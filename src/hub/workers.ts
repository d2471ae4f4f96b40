import cluster, { type Worker } from 'node:cluster';

/** The environment variable that tells a hub process it is worker N (1…) of `piot hub --workers`. */
const WORKER_ENV = 'PIOT_HUB_WORKER';

/** The most hub processes `--workers` starts. */
export const MAX_WORKERS = 64;

/** What a worker sends the primary once it serves. */
interface ListeningMessage {
  piotHub: 'listening';
  url: string;
}

const isListening = (message: unknown): message is ListeningMessage =>
  typeof message === 'object' &&
  message !== null &&
  (message as ListeningMessage).piotHub === 'listening' &&
  typeof (message as ListeningMessage).url === 'string';

/**
 * This process's number among the hub's workers (1 for the first), or undefined when it is
 * the only hub process. Work that one process does for all (retention, the alerts' periodic
 * checks) runs where this is 1 or undefined.
 */
export function hubWorkerIndex(): number | undefined {
  if (!cluster.isWorker) return undefined;
  const index = Number(process.env[WORKER_ENV]);
  return Number.isInteger(index) && index > 0 ? index : undefined;
}

/** Tells the primary this worker serves at `url`. */
export function reportListening(url: string): void {
  const message: ListeningMessage = { piotHub: 'listening', url };
  process.send?.(message);
}

/**
 * Runs `count` hub processes on one port (node:cluster: this process accepts each connection
 * and hands it to a worker in turn), each running this same command with its own connection
 * to the store. Resolves with the exit code once they stopped:
 * - `log` gets the address once every worker serves, and a line for each worker replaced;
 * - a worker that dies after it served is replaced (same number);
 * - one that dies before it served, also a replacement, stops them all (its error is on
 *   stderr): exit code 1;
 * - SIGINT or SIGTERM stops them all (each finishes its requests): exit code 0.
 */
export function runHubWorkers(count: number, log: (line: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const workers = new Map<Worker, number>();
    const served = new Set<number>();
    let stopping = false;
    let exitCode = 0;
    let announced = false;

    const fork = (index: number) => {
      const worker = cluster.fork({ [WORKER_ENV]: String(index) });
      workers.set(worker, index);
      worker.on('message', (message: unknown) => {
        if (!isListening(message)) return;
        served.add(index);
        if (!announced && served.size === count) {
          announced = true;
          log(`hub listening on ${message.url} (${count} processes)`);
        }
      });
    };
    const stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      exitCode = code;
      for (const worker of workers.keys()) worker.process.kill('SIGTERM');
    };
    const onSignal = () => stop(0);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const finish = () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(exitCode);
    };

    cluster.on('exit', (worker, code, signal) => {
      const index = workers.get(worker);
      if (index === undefined) return;
      workers.delete(worker);
      if (stopping) {
        if (workers.size === 0) finish();
        return;
      }
      const how = signal ? `was killed (${signal})` : `exited with ${code}`;
      if (!served.has(index)) {
        log(`hub process ${index} ${how} before it served; stopping`);
        stop(1);
        if (workers.size === 0) finish();
        return;
      }
      log(`hub process ${index} ${how}; starting another`);
      // The new one must serve too: one that cannot start (the store is gone, say) stops
      // the hub instead of being started again and again; its service manager restarts it.
      served.delete(index);
      fork(index);
    });

    for (let index = 1; index <= count; index++) fork(index);
  });
}
