import { describe, expect, it } from 'vitest';
import { agentConfig } from '../agent/config.js';
import { formatProblem } from './problem.js';
import { validateDeviceFile } from './validate.js';

const check = (text: string) => validateDeviceFile(Buffer.from(text), { file: 'device.yaml' });

describe('device file', () => {
  it('reads a device that follows a branch, with defaults for what is left out', () => {
    const result = check('version: 1\nname: kitchen\nrepo: https://git.example.com/app.git\n');
    if (!result.ok) throw new Error(result.problems.map(formatProblem).join('\n'));
    expect(agentConfig(result.value)).toEqual({
      device: 'kitchen',
      repo: 'https://git.example.com/app.git',
      follow: { branch: 'main' },
      pollMs: 30_000,
      deployKey: undefined,
    });
  });

  it('follows tags and a custom poll interval', () => {
    const result = check('version: 1\nname: k\nrepo: /srv/app.git\ntags: "v*"\npoll: 2m\n');
    expect(result.ok && agentConfig(result.value)).toMatchObject({
      follow: { tags: 'v*' },
      pollMs: 120_000,
    });
  });

  it('names every problem with its position', () => {
    const result = check(
      'version: 1\nname: Kitchen_1\nrepo: /srv/app.git\nbranch: main\ntags: "v*"\npol: 30s\n',
    );
    expect(result.ok).toBe(false);
    expect(result.problems.map(formatProblem).join('\n')).toMatch(
      /device\.yaml:2:7: .*is not a device name[\s\S]*device\.yaml:5:7: give either branch or tags, not both[\s\S]*device\.yaml:6:1: unknown key "pol"/,
    );
  });
});
