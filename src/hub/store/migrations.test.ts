import { expect, it } from 'vitest';
import { migrate, MIGRATIONS } from './migrations.js';
import { sqlStore } from './sql-store.js';
import { describeEachStore } from './test-targets.js';

const T0 = Date.UTC(2026, 11, 7, 12);

describeEachStore('migrations', (target) => {
  it('keeps the nonces it had when it keys them by nonce first (9 and 10)', async () => {
    const opened = await target.openDb();
    const { db } = opened;
    try {
      expect(await migrate(db, MIGRATIONS.slice(0, 8))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
      await db.run('INSERT INTO nonces (device, nonce, at) VALUES (?, ?, ?), (?, ?, ?)', [
        'kitchen',
        'random-nonce-0001',
        T0,
        'garage',
        'random-nonce-0002',
        T0 + 1,
      ]);
      expect(await migrate(db)).toEqual([9, 10]);
      const key =
        db.dialect === 'sqlite'
          ? await db.all<{ name: string }>(
              "SELECT name FROM pragma_table_info('nonces') WHERE pk > 0 ORDER BY pk",
            )
          : await db.all<{ name: string }>(
              `SELECT a.attname AS name FROM pg_index i
               JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
               WHERE i.indrelid = 'nonces'::regclass AND i.indisprimary
               ORDER BY array_position(i.indkey, a.attnum)`,
            );
      expect(key.map((k) => k.name)).toEqual(['nonce', 'device']);
      const store = sqlStore(db);
      // Used before the migration: still refused; the same nonce of another device is its own.
      expect(await store.useNonce('kitchen', 'random-nonce-0001', T0 + 2)).toBe(false);
      expect(await store.useNonce('garage', 'random-nonce-0002', T0 + 2)).toBe(false);
      expect(await store.useNonce('garage', 'random-nonce-0001', T0 + 2)).toBe(true);
      expect(await store.useNonce('kitchen', 'random-nonce-0003', T0 + 2)).toBe(true);
      // Pruned by time as before.
      await store.pruneNonces(T0 + 1);
      expect(await store.useNonce('kitchen', 'random-nonce-0001', T0 + 3)).toBe(true);
      expect(await store.useNonce('garage', 'random-nonce-0002', T0 + 3)).toBe(false);
    } finally {
      await opened.dispose();
    }
  });
});
