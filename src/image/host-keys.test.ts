import { describe, expect, it } from 'vitest';
import { checkHostKeys } from './host-keys.js';

const ED25519 = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
const flag = '--repo-host-key';

describe('--repo-host-key', () => {
  it('takes known_hosts lines for the repository host, as ssh-keyscan prints them', () => {
    const text = `# github.com:22 SSH-2.0-babeld\ngithub.com ${ED25519}\n\n[git.example.com]:2222 ${ED25519} comment\n`;
    expect(checkHostKeys(text, { repo: 'git@github.com:me/app.git', flag })).toEqual({
      lines: [`github.com ${ED25519}`, `[git.example.com]:2222 ${ED25519} comment`],
      problems: [],
    });
    expect(
      checkHostKeys(`[git.example.com]:2222 ${ED25519}`, {
        repo: 'ssh://git@git.example.com:2222/app.git',
        flag,
      }).problems,
    ).toEqual([]);
    expect(checkHostKeys(`|1|abc=|def= ${ED25519}`, { repo: 'git@x:a', flag }).problems).toEqual(
      [],
    );
  });

  it('says what is wrong with a line that is not one', () => {
    const problems = (line: string, repo = 'git@github.com:me/app.git') =>
      checkHostKeys(line, { repo, flag }).problems;
    expect(problems(ED25519)).toEqual([
      '--repo-host-key "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMq…" has no host: put it first (e.g. github.com ssh-ed25519 AAAA…)',
    ]);
    expect(problems(`github.com ssh-dss ${ED25519.split(' ')[1]}`)).toEqual([
      '--repo-host-key: "ssh-dss" is not an SSH host key type (e.g. ssh-ed25519)',
    ]);
    expect(problems('github.com')[0]).toMatch(/is not a known_hosts line \(HOST KEY-TYPE BASE64/);
    expect(
      problems(
        'github.com ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl',
      ),
    ).toEqual(['--repo-host-key: the ssh-rsa key for github.com is not valid base64 of one']);
    expect(problems('github.com ssh-ed25519 not!base64')[0]).toMatch(/not valid base64/);
    expect(problems('')).toEqual([
      '--repo-host-key: no host key (a known_hosts line: HOST KEY-TYPE BASE64)',
    ]);
    expect(problems(`gitlab.com ${ED25519}`)).toEqual([
      '--repo-host-key: no line is for github.com, the host of --repo',
    ]);
    expect(problems(`git.example.com ${ED25519}`, 'ssh://git.example.com:2222/app.git')).toEqual([
      '--repo-host-key: no line is for [git.example.com]:2222, the host of --repo (on port 2222 the line starts with [git.example.com]:2222)',
    ]);
    expect(problems(`github.com ${ED25519}`, 'https://github.com/me/app.git')).toEqual([
      '--repo-host-key is for SSH repositories; --repo "https://github.com/me/app.git" is not one',
    ]);
  });
});
