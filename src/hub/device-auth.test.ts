import { describe, expect, it } from 'vitest';
import { targetOf } from './device-auth.js';

describe('targetOf', () => {
  it("gives a URL's path and query as URL parses them", () => {
    const urls = [
      'http://hub/api/v1/devices/kitchen/heartbeat',
      'http://127.0.0.1:8800/api/v1/devices/kitchen/commands?wait=25',
      'http://[::1]:8800/a/b?x=1&y=%20',
      'https://hub.example:443/',
      'http://hub',
      'http://hub/a?',
      'http://hub/a?x#frag',
      'http://hub/a#frag',
    ];
    for (const url of urls) {
      const parsed = new URL(url);
      expect({ url, target: targetOf(url) }).toEqual({
        url,
        target: parsed.pathname + parsed.search,
      });
    }
  });
});
