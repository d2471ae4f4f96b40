import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { upstream } from '../../test/support/upstream.js';
import { createGit, GitError, removeStaleLocks } from './git.js';

describe('git mirror (real git)', () => {
  it('reads several files of a commit with one git process', async () => {
    const up = upstream();
    const c = up.commit({
      '.piot.yaml': 'version: 1\napp: a\n',
      'lines.bin': 'a\nb\n\n',
      'dir/x': '',
    });
    const git = createGit({
      url: up.dir,
      mirror: join(mkdtempSync(join(tmpdir(), 'piot-mirror-')), 'repo.git'),
    });
    await git.fetch();
    // Files (with newlines, and empty), a missing one, a directory.
    expect(
      (await git.readFiles(c, ['lines.bin', 'missing.txt', 'dir', 'dir/x', '.piot.yaml'])).map(
        (file) => file?.toString(),
      ),
    ).toEqual(['a\nb\n\n', undefined, undefined, '', 'version: 1\napp: a\n']);
  });

  it('clones, follows a branch, reads files, exports trees and tells code changes from spec changes', async () => {
    const up = upstream();
    const c1 = up.commit({ '.piot.yaml': 'version: 1\napp: a\n', 'app.sh': 'echo 1\n' }, 'first');
    const mirror = join(mkdtempSync(join(tmpdir(), 'piot-mirror-')), 'repo.git');
    const git = createGit({ url: up.dir, mirror });
    await git.fetch();
    expect(await git.branchHead('main')).toBe(c1);
    expect(await git.branchHead('nope')).toBeUndefined();
    expect((await git.readFile(c1, '.piot.yaml'))?.toString()).toBe('version: 1\napp: a\n');
    expect(await git.readFile(c1, 'missing.txt')).toBeUndefined();

    const c2 = up.commit({ '.piot.yaml': 'version: 1\napp: a\nenv: {X: 1}\n' }, 'spec only');
    const c3 = up.commit({ 'app.sh': 'echo 3\n' }, 'code');
    await git.fetch();
    expect(await git.branchHead('main')).toBe(c3);
    expect(await git.codeChanged(c1, c2)).toBe(false);
    expect(await git.codeChanged(c2, c3)).toBe(true);

    // Remembered until this mirror's next fetch: another fetch into it is not seen before.
    const c4 = up.commit({ 'app.sh': 'echo 4\n' }, 'elsewhere');
    await createGit({ url: up.dir, mirror }).fetch();
    expect(await git.branchHead('main')).toBe(c3);
    await git.fetch();
    expect(await git.branchHead('main')).toBe(c4);

    const release = join(mkdtempSync(join(tmpdir(), 'piot-rel-')), c3);
    await git.exportTree(c3, release);
    expect(readFileSync(join(release, 'app.sh'), 'utf8')).toBe('echo 3\n');
    expect(existsSync(`${release}.partial`)).toBe(false);
  });

  it('picks the newest tag by version for tag-following fleets', async () => {
    const up = upstream();
    up.commit({ a: '1' }, 'one');
    up.git('tag', 'v1.9.0');
    const c2 = up.commit({ a: '2' }, 'two');
    up.git('tag', 'v1.10.0');
    up.commit({ a: '3' }, 'untagged');
    const git = createGit({
      url: up.dir,
      mirror: join(mkdtempSync(join(tmpdir(), 'piot-mirror-')), 'r.git'),
    });
    await git.fetch();
    expect(await git.newestTag('v*')).toEqual({ tag: 'v1.10.0', commit: c2 });
    expect(await git.newestTag('release-*')).toBeUndefined();
  });

  it('fails clearly for a repository that is not there', async () => {
    const git = createGit({
      url: '/nonexistent/repo',
      mirror: join(mkdtempSync(join(tmpdir(), 'piot-m-')), 'r.git'),
    });
    await expect(git.fetch()).rejects.toThrow(GitError);
    await expect(git.fetch()).rejects.toThrow(/clone --mirror \/nonexistent\/repo failed/);
  });

  it('clones again when a power cut damaged the mirror, but not when the server is away', async () => {
    const up = upstream();
    up.commit({ a: '1' }, 'one');
    const mirror = join(mkdtempSync(join(tmpdir(), 'piot-mirror-')), 'r.git');
    // file:// so the clone copies objects instead of hard-linking them.
    const git = createGit({ url: `file://${up.dir}`, mirror });
    await git.fetch();
    // Every object file emptied, as a power cut before writeback can leave them.
    for (const dir of readdirSync(join(mirror, 'objects')).filter((d) => /^[0-9a-f]{2}$/.test(d)))
      for (const file of readdirSync(join(mirror, 'objects', dir)))
        writeFileSync(join(mirror, 'objects', dir, file), '');
    for (const pack of readdirSync(join(mirror, 'objects', 'pack')))
      writeFileSync(join(mirror, 'objects', 'pack', pack), '');
    const c2 = up.commit({ a: '2' }, 'two');
    await git.fetch();
    expect(await git.branchHead('main')).toBe(c2);
    expect((await git.readFile(c2, 'a'))?.toString()).toBe('2');

    renameSync(up.dir, `${up.dir}-away`);
    await expect(git.fetch()).rejects.toThrow(/fetch .* failed/);
    expect(await git.branchHead('main')).toBe(c2);
  });

  it('fetches past a ref lock that a power cut left behind, keeping locks of this boot', async () => {
    const up = upstream();
    up.commit({ a: '1' }, 'one');
    const mirror = join(mkdtempSync(join(tmpdir(), 'piot-mirror-')), 'r.git');
    const git = createGit({ url: `file://${up.dir}`, mirror });
    await git.fetch();
    const stale = join(mirror, 'refs', 'heads', 'main.lock');
    writeFileSync(stale, '');
    const beforeBoot = new Date(Date.now() - 7_200_000);
    utimesSync(stale, beforeBoot, beforeBoot);
    const c2 = up.commit({ a: '2' }, 'two');
    await git.fetch();
    expect(existsSync(stale)).toBe(false);
    expect(await git.branchHead('main')).toBe(c2);

    const fresh = join(mirror, 'packed-refs.lock');
    writeFileSync(fresh, '');
    expect(await removeStaleLocks(mirror, Date.now() - 60_000)).toEqual([]);
    expect(existsSync(fresh)).toBe(true);
  });
});
