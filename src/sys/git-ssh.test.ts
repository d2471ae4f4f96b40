import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainSshFailure, hasHostKeys, sshCommand, sshRemote } from './git-ssh.js';

describe('SSH remotes', () => {
  it('finds host and port in ssh:// and scp-like URLs, and nothing in others', () => {
    expect(sshRemote('ssh://git@10.0.2.102:22/app.git')).toEqual({
      host: '10.0.2.102',
      port: 22,
      name: '10.0.2.102',
    });
    expect(sshRemote('ssh://git.example.com:2222/me/app.git')?.name).toBe('[git.example.com]:2222');
    expect(sshRemote('git+ssh://[::1]:2200/app.git')?.name).toBe('[::1]:2200');
    expect(sshRemote('git@github.com:me/app.git')?.name).toBe('github.com');
    expect(sshRemote('github.com:me/app.git')?.host).toBe('github.com');
    expect(sshRemote('https://github.com/me/app.git')).toBeUndefined();
    expect(sshRemote('/srv/app')).toBeUndefined();
    expect(sshRemote('./dir:with-colon')).toBeUndefined();
  });

  it('builds the ssh command with the key, no prompts, and the pinned host keys', () => {
    expect(
      sshCommand(
        { key: '/etc/piot/identity/deploy_key', knownHosts: '/etc/piot/known_hosts' },
        { strict: false },
      ),
    ).toBe(
      'ssh -i /etc/piot/identity/deploy_key -o IdentitiesOnly=yes -o BatchMode=yes -o UserKnownHostsFile=/etc/piot/known_hosts -o StrictHostKeyChecking=accept-new -o HashKnownHosts=no -o ConnectTimeout=30',
    );
    // Git runs it through a shell: a path is one argument whatever it holds.
    expect(sshCommand({ key: "/k/it's $(x)", knownHosts: '/kh' }, { strict: true })).toMatch(
      /^ssh -i '\/k\/it'\\''s \$\(x\)' -o IdentitiesOnly=yes .*StrictHostKeyChecking=yes /,
    );
  });

  it('trusts only listed hosts once the known_hosts file holds a key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'piot-kh-'));
    expect(await hasHostKeys(join(dir, 'missing'))).toBe(false);
    writeFileSync(join(dir, 'comments'), '# nothing yet\n\n');
    expect(await hasHostKeys(join(dir, 'comments'))).toBe(false);
    writeFileSync(join(dir, 'one'), '# pinned\nhost ssh-ed25519 AAAA\n');
    expect(await hasHostKeys(join(dir, 'one'))).toBe(true);
  });
});

describe("ssh's complaints, explained", () => {
  const context = {
    url: 'git@github.com:me/app.git',
    key: '/etc/piot/identity/deploy_key',
    knownHosts: '/etc/piot/known_hosts',
  };
  const explain = (stderr: string, extra = {}) =>
    explainSshFailure(stderr, { ...context, ...extra });

  it('names the refused deploy key and where its public half goes', () => {
    const error = explain(
      "Cloning into bare repository 'x'...\ngit@github.com: Permission denied (publickey).\nfatal: Could not read from remote repository.\n",
    );
    expect(error?.message).toBe(
      'the repository server github.com refused the deploy key /etc/piot/identity/deploy_key',
    );
    expect(error?.hint).toContain('ssh-keygen -y -f /etc/piot/identity/deploy_key');
    expect(
      explain('git@github.com: Permission denied (publickey).', { key: undefined })?.hint,
    ).toMatch(/--deploy-key/);
  });

  it('tells a changed host key from an unknown one', () => {
    expect(
      explain(
        '@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key for github.com has changed and you have requested strict checking.\nHost key verification failed.\n',
      )?.hint,
    ).toContain("ssh-keygen -R 'github.com' -f /etc/piot/known_hosts");
    expect(
      explain(
        'No ED25519 host key is known for github.com and you have requested strict checking.\nHost key verification failed.\n',
      )?.message,
    ).toBe(
      '/etc/piot/known_hosts has no host key for github.com, and only the hosts in it are trusted',
    );
  });

  it('says what to install, fix or check for a missing ssh, a missing or open key, an unknown repository', () => {
    expect(explain('error: cannot run ssh: No such file or directory')?.hint).toMatch(
      /apt-get install openssh-client/,
    );
    expect(
      explain(
        'Warning: Identity file /etc/piot/identity/deploy_key not accessible: No such file or directory.\ngit@github.com: Permission denied (publickey).',
      )?.message,
    ).toMatch(/cannot be read/);
    expect(explain('WARNING: UNPROTECTED PRIVATE KEY FILE!')?.hint).toMatch(/chmod 600/);
    expect(explain('ERROR: Repository not found.\nfatal: Could not read')?.message).toMatch(
      /no repository at git@github\.com:me\/app\.git/,
    );
  });

  it('leaves network trouble and other URLs to the caller', () => {
    expect(
      explain('ssh: Could not resolve hostname github.com: Temporary failure'),
    ).toBeUndefined();
    expect(explain('Permission denied (publickey).', { url: 'https://x/app.git' })).toBeUndefined();
  });
});
