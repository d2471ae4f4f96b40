/** The fleet API of the hub as a person calls it, with its failures as UserErrors. */
import type { CommandRequest } from '../hub/commands.js';
import type { DeployEventRecord, JobRunRecord } from '../hub/heartbeat.js';
import type { CommandRecord, DeviceRecord, Sample } from '../hub/store/store.js';
import { UserError } from '../errors.js';
import type { HubTarget } from './hub-config.js';

/** What `GET /api/v1/devices/:name` answers. */
export interface DeviceDetail {
  device: DeviceRecord;
  samples: Sample[];
  events: DeployEventRecord[];
  jobRuns: JobRunRecord[];
  commands: CommandRecord[];
}

/** The calls the fleet commands make. */
export interface HubClient {
  url: string;
  devices(): Promise<{ devices: DeviceRecord[] }>;
  device(name: string): Promise<DeviceDetail>;
  queue(device: string, request: CommandRequest): Promise<CommandRecord>;
  command(device: string, id: string): Promise<CommandRecord>;
}

const REQUEST_TIMEOUT_MS = 30_000;

interface ErrorBody {
  error?: string;
  hint?: string;
  issues?: { path?: string; message?: string }[];
}

/** A client of the hub at target.url, sending target.token. */
export function hubClient(target: HubTarget, fetchImpl: typeof fetch = fetch): HubClient {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const url = `${target.url}${path}`;
    let response: Response;
    try {
      response = await fetchImpl(url, {
        method,
        headers: {
          authorization: `Bearer ${target.token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw unreachable(target, error);
    }
    const text = await response.text();
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new UserError(
        `${target.url} did not answer ${method} ${path} as a PioT hub (HTTP ${response.status}, ${response.headers.get('content-type') ?? 'no content type'})`,
        { hint: `is ${target.url} the hub's address? (from ${target.from})` },
      );
    }
    if (response.ok) return data as T;
    throw refused(target, response.status, data as ErrorBody);
  };
  const device = (name: string) => `/api/v1/devices/${encodeURIComponent(name)}`;
  return {
    url: target.url,
    devices: () => call('GET', '/api/v1/devices'),
    device: (name) => call('GET', device(name)),
    queue: async (name, request) =>
      (await call<{ command: CommandRecord }>('POST', `${device(name)}/commands`, request)).command,
    command: async (name, id) =>
      (
        await call<{ command: CommandRecord }>(
          'GET',
          `${device(name)}/commands/${encodeURIComponent(id)}`,
        )
      ).command,
  };
}

function unreachable(target: HubTarget, error: unknown): UserError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const why =
    error instanceof Error && error.name === 'TimeoutError'
      ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`
      : (cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)));
  return new UserError(`cannot reach the hub at ${target.url} (${why})`, {
    hint: `is the hub running there? The address came from ${target.from}`,
    cause: error,
  });
}

function refused(target: HubTarget, status: number, body: ErrorBody): UserError {
  const error = body.error ?? `HTTP ${status}`;
  if (status === 401) {
    return new UserError(`the hub at ${target.url} refused the API token (${error})`, {
      hint: 'make one on the hub with `piot hub token create --api USER`, then `piot hub login --url URL` (or set $PIOT_HUB_API_TOKEN)',
    });
  }
  const device = /^no device named "(.*)"$/.exec(error);
  if (status === 404 && device) {
    return new UserError(`no device named ${device[1]} on the hub`, {
      hint: '`piot devices` lists the devices the hub knows',
    });
  }
  // The error names the first issue already.
  const more = (body.issues ?? []).slice(1).map((i) => `${i.path} ${i.message}`);
  return new UserError(
    `the hub refused the request (HTTP ${status}): ${[error, ...more].join('; ')}`,
    body.hint ? { hint: body.hint } : {},
  );
}
