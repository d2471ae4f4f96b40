import Database from 'better-sqlite3';
import { existsSync, statSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startCheckpointer } from './sqlite-checkpointer.js';
import { openSqlite } from './sqlite.js';

const PAGE = 4096;
const execFileAsync = promisify(execFile);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'piot-sqlite-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('the WAL checkpointer', () => {
  it('copies the WAL into the database on its own thread and starts it over while commits keep coming', async () => {
    const path = join(dir, 'hub.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    // As the hub's connection: no checkpoint of its own, and no blocking wait for the lock.
    db.pragma('wal_autocheckpoint = 0');
    db.pragma('busy_timeout = 0');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
    const failures: unknown[] = [];
    const checkpointer = startCheckpointer(path, {
      failed: (error) => failures.push(error),
      restartPages: 500,
    });
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
    const commit = db.transaction((n: number) => {
      for (let i = 0; i < n; i++) insert.run(Buffer.alloc(8 * 1024, i));
    });
    // 24 MB in commits of 16 KB, a millisecond apart.
    const commits = 1500;
    for (let c = 0; c < commits; c++) {
      await checkpointer.released();
      commit(2);
      checkpointer.committed();
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const walPages = statSync(`${path}-wal`).size / PAGE;
    await checkpointer.stop();
    expect(failures).toEqual([]);
    // Never started over, the WAL would hold every page written, about 9,000 here.
    expect(walPages).toBeLessThan(4000);
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: commits * 2 });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
  });

  it('keeps a process that waits for it up, with nothing else to do', async () => {
    // A command (not the server) has nothing else that keeps its process up while it waits.
    const script = join(dir, 'commits.mts');
    await writeFile(
      script,
      `import Database from ${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))};
      import { startCheckpointer } from ${JSON.stringify(join(import.meta.dirname, 'sqlite-checkpointer.ts'))};
      const path = ${JSON.stringify(join(dir, 'hub.db'))};
      const db = new Database(path);
      db.pragma('journal_mode = WAL');
      db.pragma('wal_autocheckpoint = 0');
      db.pragma('busy_timeout = 0');
      db.exec('CREATE TABLE t (v BLOB)');
      const checkpointer = startCheckpointer(path, {
        failed: (error) => { console.error(error); process.exit(2); },
        restartPages: 50,
      });
      const insert = db.prepare('INSERT INTO t (v) VALUES (?)');
      let waits = 0;
      for (let c = 0; c < 300; c++) {
        const released = checkpointer.released();
        if (released) { waits++; await released; }
        insert.run(Buffer.alloc(16 * 1024));
        checkpointer.committed();
        // A millisecond's work between commits, so the checkpointer starts the WAL over.
        for (const until = performance.now() + 1; performance.now() < until; );
      }
      await checkpointer.stop();
      console.log(JSON.stringify({ rows: db.prepare('SELECT count(*) AS n FROM t').get().n, waits }));
      db.close();`,
    );
    const run = await execFileAsync(process.execPath, ['--import', 'tsx', script], {
      cwd: import.meta.dirname,
    }).catch((error: { code?: number; stderr?: string }) => error);
    expect(run).toMatchObject({ stderr: '' });
    const { rows, waits } = JSON.parse((run as { stdout: string }).stdout) as {
      rows: number;
      waits: number;
    };
    expect(rows).toBe(300);
    // Else this test proves nothing: the process did wait for the checkpointer.
    expect(waits).toBeGreaterThan(0);
  });

  it('reports a database it cannot open, and stops', async () => {
    const failures: unknown[] = [];
    const checkpointer = startCheckpointer(join(dir, 'missing.db'), {
      failed: (error) => failures.push(error),
    });
    await expect.poll(() => failures.length).toBeGreaterThan(0);

    expect((failures[0] as Error).message).toMatch(
      /^checkpointing .*missing.db: unable to open database file/,
    );
    await checkpointer.stop();
  });
});

describe('openSqlite', () => {
  it('keeps the WAL bounded under a stream of group commits, and leaves it folded in on close', async () => {
    const path = join(dir, 'hub.db');
    const db = openSqlite(path);
    await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
    const blob = Buffer.alloc(8 * 1024, 7);
    // 40 MB: 640 group commits of 8 writes of 8 KB each.
    for (let c = 0; c < 640; c++) {
      await Promise.all(
        Array.from({ length: 8 }, () => db.run('INSERT INTO t (v) VALUES (?)', [blob])),
      );
    }
    // Never started over, the WAL would hold about 12,000 pages here.
    expect(statSync(`${path}-wal`).size / PAGE).toBeLessThan(5000);
    await db.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 640 * 8 });
    check.close();
  });
});
