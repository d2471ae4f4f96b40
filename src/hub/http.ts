import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { z } from 'zod';

/** An HTTP error with PioT's JSON body: `{ error, issues? }`. */
export function httpError(
  status: 400 | 401 | 403 | 404 | 409 | 413 | 429,
  error: string,
  extra: object = {},
): HTTPException {
  return new HTTPException(status, {
    res: new Response(JSON.stringify({ error, ...extra }), {
      status,
      headers: { 'content-type': 'application/json' },
    }),
  });
}

/** The request body's bytes (the body limit middleware has already capped their size). */
export async function rawBody(c: Context): Promise<Uint8Array> {
  return new Uint8Array(await c.req.arrayBuffer());
}

/** Parses bytes as UTF-8 JSON matching schema; anything else is a 400 naming the problem. */
export function parseJson<S extends z.ZodType>(raw: Uint8Array, schema: S): z.output<S> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch {
    throw httpError(400, 'the body is not valid UTF-8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw httpError(400, `the body is not JSON: ${(error as Error).message}`);
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.slice(0, 20).map((issue) => ({
      path: issue.path.map(String).join('.') || '(body)',
      message: issue.message,
    }));
    const first = issues[0]!;
    throw httpError(400, `invalid body: ${first.path} ${first.message}`, { issues });
  }
  return result.data;
}

/** A form body re-encoded as JSON bytes, so one parser checks both (login accepts either). */
export function formAsJson(contentType: string | undefined, raw: Uint8Array): Uint8Array {
  if (!contentType?.startsWith('application/x-www-form-urlencoded')) return raw;
  const form = new URLSearchParams(Buffer.from(raw).toString('latin1'));
  return Buffer.from(JSON.stringify(Object.fromEntries(form)));
}
