import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { runCgi } from '../sys/cgi.js';
import { listenOnLoopback } from './loopback.js';

/** A read-only git server on loopback, for guests of the virtual Pi. */
export interface GitServer {
  /** http://127.0.0.1:PORT; a repository ROOT/app.git is URL/app.git. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Serves the repositories under `root` over git's smart HTTP (fetch and clone only), by
 * running `git http-backend` for each request, as a web server does for real HTTPS remotes.
 */
export function gitHttpHandler(
  root: string,
  options: { log?: (line: string) => void } = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const projectRoot = resolve(root);
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://git');
    const service = url.searchParams.get('service') ?? '';
    options.log?.(`${req.method} ${url.pathname}${url.search}`);
    // Read-only: pushes are refused here, whatever the repository's configuration says.
    if (
      (req.method !== 'GET' && req.method !== 'POST') ||
      url.pathname.endsWith('/git-receive-pack') ||
      service === 'git-receive-pack'
    ) {
      res.writeHead(403).end('read-only\n');
      return;
    }
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      GIT_PROJECT_ROOT: projectRoot,
      GIT_HTTP_EXPORT_ALL: '1',
      // The repositories may belong to another user than this server (git's safe.directory).
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'safe.directory',
      GIT_CONFIG_VALUE_0: '*',
      REQUEST_METHOD: req.method,
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.slice(1),
      REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
      CONTENT_TYPE: req.headers['content-type'] ?? '',
    };
    // Without CONTENT_LENGTH (a chunked request) http-backend reads the body to its end.
    if (req.headers['content-length']) env.CONTENT_LENGTH = req.headers['content-length'];
    if (req.headers['content-encoding'])
      env.HTTP_CONTENT_ENCODING = req.headers['content-encoding'];
    const protocol = req.headers['git-protocol'];
    if (typeof protocol === 'string') env.GIT_PROTOCOL = protocol;
    runCgi('git', ['http-backend'], {
      env,
      input: req,
      onStderr: (text) => options.log?.(`git http-backend: ${text.trim()}`),
    }).then(
      (answer) => {
        res.writeHead(answer.status, answer.headers.flat());
        answer.body.pipe(res);
      },
      (error: Error) => {
        options.log?.(`git http-backend failed: ${error.message}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  };
}

/** Starts a git server for the repositories under `root` on 127.0.0.1 (a free port unless given). */
export async function startGitServer(options: {
  root: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<GitServer> {
  const server = createServer(gitHttpHandler(options.root, { log: options.log }));
  return listenOnLoopback(server, { port: options.port });
}
