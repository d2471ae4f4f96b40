/** The element types of the arrays PioT sends, with their PostgreSQL type OIDs. */
const OID = { text: 25, bool: 16, int8: 20, float8: 701 } as const;

export type ElementType = keyof typeof OID;
type Element = string | number | boolean | null | undefined;

/**
 * A one-dimensional array in PostgreSQL's binary form (what `array_recv` reads), to pass as a
 * query parameter: node-postgres sends a Buffer parameter in binary. The server reads each
 * element as it is, where the text form of an array (what node-postgres makes of a JS array)
 * has each element quoted and escaped by the client and unescaped by the server, which for a
 * batch of heartbeat summaries (JSON, full of quotes) was a tenth of the hub's CPU.
 * `null` and `undefined` are NULL; int8 takes integers, float8 any number.
 */
export function binaryArray(type: ElementType, values: readonly Element[]): Buffer {
  const texts = type === 'text' ? values.map((v) => (v == null ? null : String(v))) : undefined;
  let size = 12 + (values.length > 0 ? 8 : 0);
  values.forEach((value, i) => {
    size += 4;
    if (value == null) return;
    size += type === 'text' ? Buffer.byteLength(texts![i]!) : type === 'bool' ? 1 : 8;
  });
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  at = out.writeInt32BE(values.length > 0 ? 1 : 0, at); // dimensions
  at = out.writeInt32BE(values.some((v) => v == null) ? 1 : 0, at); // has NULLs
  at = out.writeInt32BE(OID[type], at);
  if (values.length > 0) {
    at = out.writeInt32BE(values.length, at);
    at = out.writeInt32BE(1, at); // lower bound
  }
  values.forEach((value, i) => {
    if (value == null) {
      at = out.writeInt32BE(-1, at);
    } else if (type === 'text') {
      const length = out.write(texts![i]!, at + 4);
      at = out.writeInt32BE(length, at) + length;
    } else if (type === 'bool') {
      at = out.writeInt32BE(1, at);
      at = out.writeUInt8(value ? 1 : 0, at);
    } else {
      at = out.writeInt32BE(8, at);
      at =
        type === 'int8'
          ? out.writeBigInt64BE(BigInt(value), at)
          : out.writeDoubleBE(Number(value), at);
    }
  });
  return out;
}
