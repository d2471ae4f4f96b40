import { setTimeout as sleep } from 'node:timers/promises';
import { UserError } from '../../errors.js';
import type { AlertRecord } from '../store/store.js';

/** How a webhook wants its message: PioT's JSON, ntfy's plain text, or Slack's `{text}`. */
export type WebhookFormat = 'json' | 'ntfy' | 'slack';

/** Where alerts are sent. */
export interface Webhook {
  format: WebhookFormat;
  url: string;
}

/** An alert starting (`firing`) or ending (`resolved`). */
export interface Notification {
  status: 'firing' | 'resolved';
  alert: AlertRecord;
  /** The hub's address as people reach it, for a link back. */
  hubUrl?: string;
}

/** One HTTP request, ready for fetch. */
export interface WebhookRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** `--webhook` text (`URL`, `ntfy:URL`, `slack:URL`) to a Webhook; a UserError otherwise. */
export function parseWebhook(spec: string): Webhook {
  const match = /^(ntfy|slack|json):(?=https?:)(.*)$/.exec(spec);
  const format = (match?.[1] ?? 'json') as WebhookFormat;
  const url = match?.[2] ?? spec;
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // Reported below.
  }
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
    throw new UserError(`--webhook ${spec} is not an http(s) URL`, {
      hint: '--webhook https://example.com/hook, ntfy:https://ntfy.sh/TOPIC or slack:https://hooks.slack.com/services/…',
      exitCode: 2,
    });
  }
  return { format, url };
}

/** A webhook's URL without credentials or path, safe to print in logs. */
export function describeWebhook(webhook: Webhook): string {
  try {
    return `${webhook.format}:${new URL(webhook.url).host}`;
  } catch {
    return webhook.format;
  }
}

const iso = (ms: number) => new Date(ms).toISOString();

function title(n: Notification): string {
  return `[${n.status === 'firing' ? 'FIRING' : 'RESOLVED'}] ${n.alert.device}: ${n.alert.key}`;
}

function text(n: Notification): string {
  const { alert } = n;
  if (n.status === 'firing') return alert.summary;
  const seconds = Math.max(0, Math.round(((alert.resolvedAt ?? 0) - alert.startedAt) / 1000));
  const lasted = seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
  return `resolved after ${lasted} (was: ${alert.summary})`;
}

// HTTP headers are Latin-1; ntfy decodes RFC 2047 encoded words for anything beyond ASCII.
function headerText(value: string): string {
  return /^[\x20-\x7e]*$/.test(value)
    ? value
    : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** The request a notification makes to a webhook (pure; see docs/hub.md for each format). */
export function webhookRequest(webhook: Webhook, n: Notification): WebhookRequest {
  const url = new URL(webhook.url);
  const headers: Record<string, string> = {};
  // fetch refuses URLs with credentials: send them as Basic authentication (ntfy accepts it).
  if (url.username || url.password) {
    const user = decodeURIComponent(url.username);
    const pass = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const { alert } = n;
  if (webhook.format === 'ntfy') {
    headers['content-type'] = 'text/plain; charset=utf-8';
    headers.title = headerText(title(n));
    headers.priority =
      n.status === 'resolved' ? 'low' : alert.severity === 'critical' ? 'high' : 'default';
    headers.tags =
      n.status === 'resolved'
        ? 'white_check_mark'
        : alert.severity === 'critical'
          ? 'rotating_light'
          : 'warning';
    if (n.hubUrl) headers.click = n.hubUrl;
    return { url: url.href, headers, body: text(n) };
  }
  headers['content-type'] = 'application/json';
  if (webhook.format === 'slack') {
    const icon =
      n.status === 'resolved'
        ? ':white_check_mark:'
        : alert.severity === 'critical'
          ? ':rotating_light:'
          : ':warning:';
    return {
      url: url.href,
      headers,
      body: JSON.stringify({ text: `${icon} *${title(n)}* ${text(n)}` }),
    };
  }
  const body = {
    status: n.status,
    device: alert.device,
    key: alert.key,
    severity: alert.severity,
    summary: alert.summary,
    startedAt: iso(alert.startedAt),
    ...(alert.resolvedAt === undefined ? {} : { resolvedAt: iso(alert.resolvedAt) }),
    ...(n.hubUrl ? { hub: n.hubUrl } : {}),
  };
  return { url: url.href, headers, body: JSON.stringify(body) };
}

/** How hard delivery tries. */
export interface DeliveryOptions {
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  /** Attempts in all (default 4). */
  attempts?: number;
  /** Wait before the second attempt, doubled each time (default 2 s). */
  backoffMs?: number;
}

/**
 * POSTs a notification to a webhook, retrying a network error, a timeout or a non-2xx
 * answer with backoff; rejects with the last error once every attempt failed.
 */
export async function deliver(
  webhook: Webhook,
  n: Notification,
  options: DeliveryOptions = {},
): Promise<void> {
  const { timeoutMs = 10_000, attempts = 4, backoffMs = 2000 } = options;
  const request = webhookRequest(webhook, n);
  let last: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (attempt > 0) await sleep(backoffMs * 2 ** (attempt - 1));
    try {
      const response = await fetch(request.url, {
        method: 'POST',
        headers: request.headers,
        body: request.body,
        signal: AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      await response.arrayBuffer().catch(() => undefined);
      if (response.ok) return;
      last = new Error(`HTTP ${response.status}`);
    } catch (error) {
      last = error;
    }
  }
  throw last;
}
