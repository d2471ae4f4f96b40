import type { IncomingMessage, ServerResponse } from 'node:http';
import { HTTPException } from 'hono/http-exception';
import { INTERNAL_ERROR, type Hub } from './app.js';
import type { SignedParts } from './device-auth.js';

/** A heartbeat's path with a well-formed device name; any other path takes the app's router. */
const HEARTBEAT_PATH = /^\/api\/v1\/devices\/([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)\/heartbeat$/;

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The hub's request listener: heartbeats, the busiest route by far, go from node:http straight
 * to the heartbeat route's handler, without the web Request, Response and Context objects the
 * app builds around every request (about a tenth of a heartbeat's cost). The answers are the
 * route's own, status, headers and body. Only a plain heartbeat takes this path: POST to a
 * well-formed device's heartbeat path, with a declared length within the body limit; anything
 * else, or any other request, goes to `app` (the hono listener), which answers it as before.
 */
export function withHeartbeatPath(hub: Hub, app: Listener): Listener {
  const { maxBodyBytes, logError } = hub.deps;
  return (req, res) => {
    const match = req.method === 'POST' ? HEARTBEAT_PATH.exec(req.url ?? '') : null;
    const length = req.headers['content-length'];
    if (
      !match ||
      length === undefined ||
      !/^\d{1,15}$/.test(length) ||
      Number(length) > maxBodyBytes ||
      req.headers['transfer-encoding'] !== undefined
    ) {
      app(req, res);
      return;
    }
    const request: SignedParts = {
      method: 'POST',
      target: req.url!,
      header: (name) => {
        const value = req.headers[name];
        return typeof value === 'string' ? value : undefined;
      },
    };
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      hub.heartbeat(request, match[1]!, body).then(
        (answer) => send(res, 200, { 'content-type': 'application/json' }, JSON.stringify(answer)),
        (error: unknown) => answerError(res, error, logError),
      );
    });
  };
}

function send(
  res: ServerResponse,
  status: number,
  headers: Record<string, string>,
  body: string,
): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** As the app's error handler: an HTTP error's own answer; anything else is logged, and a 500. */
function answerError(res: ServerResponse, error: unknown, logError: (error: unknown) => void) {
  if (!(error instanceof HTTPException)) {
    logError(error);
    send(res, 500, { 'content-type': 'application/json' }, JSON.stringify(INTERNAL_ERROR));
    return;
  }
  const response = error.getResponse();
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => (headers[name] = value));
  response.text().then(
    (text) => send(res, response.status, headers, text),
    (failure: unknown) => answerError(res, failure, logError),
  );
}
