import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { receiver } from './test-receiver.js';
import {
  deliver,
  describeWebhook,
  parseWebhook,
  webhookRequest,
  type Notification,
} from './webhooks.js';

const T = Date.UTC(2027, 0, 1, 12, 0, 0);
const firing: Notification = {
  status: 'firing',
  alert: {
    device: 'kitchen',
    key: 'offline',
    severity: 'critical',
    summary: 'no heartbeat for 95 s',
    startedAt: T,
  },
  hubUrl: 'https://hub.example',
};
const resolved: Notification = {
  ...firing,
  status: 'resolved',
  alert: { ...firing.alert, resolvedAt: T + 5 * 60_000 },
};

describe('webhooks', () => {
  let r: Awaited<ReturnType<typeof receiver>>;
  beforeAll(async () => {
    r = await receiver();
  });
  afterAll(() => r.close());
  beforeEach(() => {
    r.got.length = 0;
    r.failures.count = 0;
  });

  it('reads --webhook specs and refuses what is not an http(s) URL', () => {
    expect(parseWebhook('https://x.example/hook')).toEqual({
      format: 'json',
      url: 'https://x.example/hook',
    });
    expect(parseWebhook('ntfy:https://ntfy.sh/fleet')).toEqual({
      format: 'ntfy',
      url: 'https://ntfy.sh/fleet',
    });
    expect(parseWebhook('slack:https://hooks.slack.com/services/T/B/x').format).toBe('slack');
    for (const bad of ['ftp://x', 'ntfy:fleet', 'nonsense', 'teams:https://x.example'])
      expect(() => parseWebhook(bad)).toThrow(/is not an http\(s\) URL/);
    expect(describeWebhook(parseWebhook('slack:https://hooks.slack.com/services/T/B/secret'))).toBe(
      'slack:hooks.slack.com',
    );
  });

  it('posts generic JSON for firing and resolved alerts', async () => {
    await deliver(parseWebhook(`${r.url}/hook`), firing);
    await deliver(parseWebhook(`${r.url}/hook`), resolved);
    expect(r.got.map((g) => g.headers['content-type'])).toEqual([
      'application/json',
      'application/json',
    ]);
    expect(r.got.map((g) => JSON.parse(g.body) as unknown)).toEqual([
      {
        status: 'firing',
        device: 'kitchen',
        key: 'offline',
        severity: 'critical',
        summary: 'no heartbeat for 95 s',
        startedAt: '2027-01-01T12:00:00.000Z',
        hub: 'https://hub.example',
      },
      {
        status: 'resolved',
        device: 'kitchen',
        key: 'offline',
        severity: 'critical',
        summary: 'no heartbeat for 95 s',
        startedAt: '2027-01-01T12:00:00.000Z',
        resolvedAt: '2027-01-01T12:05:00.000Z',
        hub: 'https://hub.example',
      },
    ]);
  });

  it("posts ntfy's plain text with title, priority and tags headers", async () => {
    const url = r.url.replace('http://', 'http://ada:s3cret@');
    await deliver(parseWebhook(`ntfy:${url}/fleet`), firing);
    await deliver(parseWebhook(`ntfy:${r.url}/fleet`), {
      ...resolved,
      alert: { ...resolved.alert, key: 'service:wärme/api' },
    });
    const [first, second] = r.got;
    expect(first).toMatchObject({
      path: '/fleet',
      body: 'no heartbeat for 95 s',
      headers: {
        title: '[FIRING] kitchen: offline',
        priority: 'high',
        tags: 'rotating_light',
        click: 'https://hub.example',
        authorization: `Basic ${Buffer.from('ada:s3cret').toString('base64')}`,
      },
    });
    expect(second!.body).toBe('resolved after 5 min (was: no heartbeat for 95 s)');
    expect(second!.headers).toMatchObject({ priority: 'low', tags: 'white_check_mark' });
    const brief = { ...resolved, alert: { ...resolved.alert, resolvedAt: T + 45_000 } };
    expect(webhookRequest(parseWebhook('ntfy:https://ntfy.sh/x'), brief).body).toBe(
      'resolved after 45 s (was: no heartbeat for 95 s)',
    );
    // Non-ASCII titles travel as an RFC 2047 encoded word, which ntfy decodes.
    const title = second!.headers.title as string;
    expect(title).toMatch(/^=\?UTF-8\?B\?/);
    expect(Buffer.from(title.slice(10, -2), 'base64').toString('utf8')).toBe(
      '[RESOLVED] kitchen: service:wärme/api',
    );
  });

  it("posts Slack's {text}", async () => {
    await deliver(parseWebhook(`slack:${r.url}/services/T/B/x`), firing);
    expect(JSON.parse(r.got[0]!.body)).toEqual({
      text: ':rotating_light: *[FIRING] kitchen: offline* no heartbeat for 95 s',
    });
  });

  it('retries a failed delivery with backoff, then gives up with the last error', async () => {
    r.failures.count = 2;
    await deliver(parseWebhook(`${r.url}/hook`), firing, { backoffMs: 1 });
    expect(r.got).toHaveLength(1);
    r.failures.count = 5;
    await expect(
      deliver(parseWebhook(`${r.url}/hook`), firing, { backoffMs: 1, attempts: 3 }),
    ).rejects.toThrow('HTTP 500');
    expect(r.got).toHaveLength(1);
    await expect(
      deliver(parseWebhook('http://127.0.0.1:1/hook'), firing, { backoffMs: 1, attempts: 2 }),
    ).rejects.toThrow();
  });
});
