import type { ServiceSpec } from '../spec/schema.js';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { run } from '../sys/process.js';

const CHECK_TIMEOUT_MS = 5000;

/**
 * Runs a service's `health:` check once. HTTP: a GET that answers 2xx. Command: exits 0,
 * run by /bin/sh in the release directory as the service's user.
 * Resolves to undefined when it passes, else a short reason.
 */
export async function runHealthCheck(
  health: NonNullable<ServiceSpec['health']>,
  options: { cwd: string; user: string | undefined },
): Promise<string | undefined> {
  if (health.http) {
    const url = health.http;
    return new Promise((resolve) => {
      // A fresh connection each time: a pooled socket of a restarted service is dead.
      const get = url.startsWith('https:') ? httpsGet : httpGet;
      const request = get(url, { agent: false, timeout: CHECK_TIMEOUT_MS }, (response) => {
        response.resume();
        const status = response.statusCode ?? 0;
        resolve(
          status >= 200 && status < 300 ? undefined : `health check ${url} answered ${status}`,
        );
      });
      request.on('timeout', () => request.destroy(new Error('no answer within 5 s')));
      request.on('error', (error: NodeJS.ErrnoException) =>
        resolve(`health check ${url} failed (${error.code ?? error.message})`),
      );
    });
  }
  if (health.command) {
    const argv = ['/bin/sh', '-c', health.command];
    const [command, ...args] = options.user ? ['runuser', '-u', options.user, '--', ...argv] : argv;
    const result = await run(command!, args, { cwd: options.cwd, timeoutMs: CHECK_TIMEOUT_MS });
    if (result.code === 0) return undefined;
    const said = `${result.stdout}${result.stderr}`.trim().split('\n').at(-1) ?? '';
    return `health check "${health.command}" exited ${result.code ?? result.signal}${said ? `: ${said}` : ''}`;
  }
  return undefined;
}
