import { flag, gauge } from './read.js';
import type { Collector } from './types.js';

const synced = gauge(
  'node_timex_sync_status',
  'Is clock synchronized to a reliable server (1 = yes, 0 = no).',
);

/** Whether the clock is NTP-synchronised (timedated's NTPSynchronized); nothing without timedated. */
export const timeSync: Collector = {
  name: 'timesync',
  async collect(ctx) {
    const answer = await ctx.timeSynchronized();
    return answer === undefined ? [] : [synced(flag(answer))];
  },
};
