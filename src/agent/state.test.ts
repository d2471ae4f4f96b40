import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emptyState, loadState, saveState, withEvent } from './state.js';

const dir = () => mkdtempSync(join(tmpdir(), 'piot-state-'));

describe('agent state', () => {
  it('starts empty on a fresh device and round-trips through the file, root-only', async () => {
    const path = join(dir(), 'state.json');
    expect(await loadState(path)).toEqual(emptyState());
    const state = withEvent(
      { ...emptyState(), current: 'abc' },
      { at: '2026-01-01T00:00:00Z', commit: 'abc', kind: 'succeeded' },
    );
    await saveState(path, state);
    expect(await loadState(path)).toEqual(state);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(path, '..'))).toEqual(['state.json']);
  });

  it('keeps a damaged file aside and starts afresh instead of crashing', async () => {
    const d = dir();
    const path = join(d, 'state.json');
    writeFileSync(path, '{"version": 1, "current": 42');
    const messages: string[] = [];
    expect(await loadState(path, (m) => messages.push(m))).toEqual(emptyState());
    expect(messages[0]).toMatch(/was damaged; kept it as .*state\.json\.corrupt-/);
    const kept = readdirSync(d).find((f) => f.startsWith('state.json.corrupt-'))!;
    expect(readFileSync(join(d, kept), 'utf8')).toBe('{"version": 1, "current": 42');
  });

  it('bounds the event history', () => {
    let state = emptyState();
    for (let i = 0; i < 250; i++)
      state = withEvent(state, { at: 't', commit: `c${i}`, kind: 'started' });
    expect(state.events).toHaveLength(200);
    expect(state.events[0]?.commit).toBe('c50');
  });
});
