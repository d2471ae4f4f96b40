import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** Words shared with the checkpointer's thread. */
const COMMITS = 0; // commits made on the hub's connection
const STOP = 1; // 1 once the checkpointer is to stop
const HOLDING = 2; // 1 while the checkpointer wants or holds the write lock

/** The checkpointer rests this long (ms) after each checkpoint, so one covers many commits. */
const REST_MS = 100;

/**
 * The WAL is started over once it holds this many pages (as SQLite's automatic checkpoint
 * does, by default at the same size): about 4 MB.
 */
export const RESTART_PAGES = 1000;

/** The checkpointer waits at most this long (ms) for the write lock to start the WAL over. */
const LOCK_WAIT_MS = 200;

/** The hub's connection waits at most this long (ms) for the checkpointer to let the lock go. */
const HOLD_WAIT_MS = 1000;

/**
 * The checkpointer's code, a CommonJS script given to the Worker as text, so it runs the
 * same from the bundle and from the source. After a commit it copies the WAL's pages into
 * the database with a PASSIVE checkpoint, which neither waits for the hub's connection nor
 * makes it wait. Pages committed meanwhile stay in the WAL, so a WAL that keeps being
 * written to is never all copied, and never started over: once it holds `restartPages`, the
 * checkpointer says it wants the write lock (HOLDING), so the hub's connection begins no
 * new transaction, and a RESTART checkpoint copies the few pages left under the lock. The
 * next commit starts the WAL over.
 */
const CHECKPOINTER = `
const { workerData } = require('node:worker_threads');
const control = new Int32Array(workerData.control);
let db;
try {
  const Database = require(workerData.driver);
  db = new Database(workerData.path, { fileMustExist: true });
  // Only RESTART waits for the lock, and only once the hub's connection knows to let it go.
  db.pragma('busy_timeout = ${LOCK_WAIT_MS}');
  for (let seen = 0; ; ) {
    Atomics.wait(control, ${COMMITS}, seen);
    if (Atomics.load(control, ${STOP}) !== 0) break;
    seen = Atomics.load(control, ${COMMITS});
    const [{ log }] = db.pragma('wal_checkpoint(PASSIVE)');
    if (log >= workerData.restartPages) {
      Atomics.store(control, ${HOLDING}, 1);
      try {
        db.pragma('wal_checkpoint(RESTART)');
      } finally {
        Atomics.store(control, ${HOLDING}, 0);
        Atomics.notify(control, ${HOLDING});
      }
    }
    Atomics.wait(control, ${STOP}, 0, ${REST_MS});
    if (Atomics.load(control, ${STOP}) !== 0) break;
  }
} catch (error) {
  // better-sqlite3's errors reach the hub's thread as their code alone: send the message.
  throw new Error('checkpointing ' + workerData.path + ': ' + error.message);
} finally {
  if (db) db.close();
}
`;

/** Atomics with waitAsync (Node 16 and later; not in TypeScript's ES2022 library). */
const atomics = Atomics as typeof Atomics & {
  waitAsync(
    array: Int32Array,
    index: number,
    value: number,
    timeout: number,
  ): { async: false; value: string } | { async: true; value: Promise<string> };
};

export interface Checkpointer {
  /** Tells the checkpointer that the hub's connection committed. */
  committed(): void;
  /**
   * Undefined unless the checkpointer wants or holds the write lock; then a promise that
   * resolves when it is done with it. A transaction waits for it before it begins.
   */
  released(): Promise<unknown> | undefined;
  /** Stops the checkpointer and waits for it to close its connection. */
  stop(): Promise<void>;
}

/**
 * Runs SQLite's WAL checkpoints on a thread of their own, with a connection of its own to the
 * database at `path`. A checkpoint copies the WAL's pages into the database file and syncs
 * both: SQLite's automatic checkpoint does that work in the commit that passes 1,000 pages,
 * on the hub's event loop, which stalls every request meanwhile. The hub's connection must
 * have `wal_autocheckpoint = 0`. `failed` is called if the checkpointer cannot go on, so the
 * hub's connection can take the checkpoints back. `restartPages`: RESTART_PAGES unless given.
 */
export function startCheckpointer(
  path: string,
  options: { failed: (error: unknown) => void; restartPages?: number },
): Checkpointer {
  const control = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const worker = new Worker(CHECKPOINTER, {
    eval: true,
    workerData: {
      driver: createRequire(import.meta.url).resolve('better-sqlite3'),
      path,
      control: control.buffer,
      restartPages: options.restartPages ?? RESTART_PAGES,
    },
  });
  worker.unref();
  let stopping = false;
  let down = false;
  let waiting = 0;
  const exited = new Promise<void>((resolve) => {
    const fail = (error: unknown) => {
      if (down) return;
      down = true;
      if (!stopping) options.failed(error);
    };
    worker.once('error', fail);
    worker.once('exit', (code) => {
      if (code !== 0) fail(new Error(`the checkpointer exited with ${code}`));
      down = true;
      resolve();
    });
  });
  return {
    committed() {
      Atomics.add(control, COMMITS, 1);
      Atomics.notify(control, COMMITS);
    },
    released() {
      const wait = atomics.waitAsync(control, HOLDING, 1, HOLD_WAIT_MS);
      if (!wait.async) return undefined;
      // A pending waitAsync keeps no process up: one with nothing else to do (a command, not
      // the server) would exit with the transaction that waits. The worker keeps it up instead.
      if (waiting++ === 0) worker.ref();
      return wait.value.finally(() => {
        if (--waiting === 0 && !stopping) worker.unref();
      });
    },
    stop() {
      stopping = true;
      // The worker is unref'd: while it is stopped, this process must stay up to see it exit.
      worker.ref();
      Atomics.store(control, STOP, 1);
      Atomics.notify(control, COMMITS);
      Atomics.notify(control, STOP);
      return exited;
    },
  };
}
