import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { binaryArray } from './pg-binary.js';

const url = process.env.PIOT_TEST_POSTGRES;

describe('binaryArray', () => {
  it('writes the header PostgreSQL reads: dimensions, NULLs, element type, length', () => {
    expect([...binaryArray('bool', [true, null])]).toEqual([
      ...[0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0, 2, 0, 0, 0, 1],
      ...[0, 0, 0, 1, 1, 0xff, 0xff, 0xff, 0xff],
    ]);
    expect([...binaryArray('text', [])]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 25]);
  });

  // Without PIOT_TEST_POSTGRES this runs only where CI does not (CI must run it).
  it.skipIf(!url && !process.env.CI)(
    'round-trips every element type through PostgreSQL',
    async () => {
      if (!url) throw new Error('PIOT_TEST_POSTGRES is not set: CI must test against PostgreSQL');
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const back = async (type: string, array: Buffer) =>
          (await client.query<{ v: unknown }>(`SELECT $1::${type}[] AS v`, [array])).rows[0]!.v;
        const texts = [
          '',
          'plain',
          '"quoted", {braced}, back\\slash, comma, NULL',
          'NULL',
          'ünïcödé 💥',
          JSON.stringify({ summary: { quote: '"x"', backslash: '\\' } }),
          null,
        ];
        expect(await back('text', binaryArray('text', texts))).toEqual(texts);
        expect(await back('text', binaryArray('text', []))).toEqual([]);
        expect(await back('bool', binaryArray('bool', [true, false, null]))).toEqual([
          true,
          false,
          null,
        ]);
        const ints = [0, 1_800_000_000_000, -5, 2 ** 53 - 1, 0xffffffff, null];
        // node-postgres reads int8 as strings (they may not fit a JS number).
        expect(await back('int8', binaryArray('int8', ints))).toEqual(
          ints.map((n) => (n === null ? null : String(n))),
        );
        const floats = [0, -0, 1.5, -58, 52.123456789, 1e308, 5e-324, null];
        expect(await back('float8', binaryArray('float8', floats))).toEqual(floats);
      } finally {
        await client.end();
      }
    },
  );
});
