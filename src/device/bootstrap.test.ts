import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { devicePayload, DEVICE_PATHS } from './payload.js';

const script = devicePayload().find((f) => f.path === DEVICE_PATHS.bootstrap)!.source;

// Stand-ins for the commands the script runs. Each records its arguments in calls.log;
// files in the fake state directory decide how they behave.
const STUBS: Record<string, string> = {
  'apt-get': `
echo "apt-get $*" >>"$FAKE/calls.log"
for a in "$@"; do
  case "$a" in
    update)
      if [ -s "$FAKE/update-failures" ]; then
        n=$(cat "$FAKE/update-failures"); echo $((n - 1)) >"$FAKE/update-failures"
        [ "$n" -le 0 ] || { echo "Err:1 http://deb.debian.org/debian bookworm InRelease"; echo "E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Connection refused"; exit 100; }
      fi
      echo "Reading package lists..."; exit 0 ;;
    install) shift_done=1 ;;
  esac
done
if [ -n "\${shift_done:-}" ]; then
  for a in "$@"; do case "$a" in nodejs|git|ca-certificates|openssh-client) touch "$FAKE/installed-$a" ;; esac; done
  # Unpacking again mends what a power cut left half installed (listed in the half-installed file).
  case " $* " in *" --reinstall "*) rm -f "$FAKE/half-installed" ;; esac
fi
exit 0`,
  'dpkg-query': `
case "$*" in
  *Status-Abbrev*)
    # dpkg-query -W -f='\${db:Status-Abbrev} \${binary:Package}\\n': every package, as dpkg lists them.
    printf 'ii  bash\\nii  libc6\\n'
    [ ! -s "$FAKE/half-installed" ] || sed 's/^/iHR /' "$FAKE/half-installed"
    exit 0 ;;
esac
pkg=\${@: -1}
if [ -e "$FAKE/installed-$pkg" ]; then printf 'install ok installed'; else exit 1; fi`,
  dpkg: `
echo "dpkg $*" >>"$FAKE/calls.log"
if [ "$*" = "--configure -a" ] && [ -s "$FAKE/configure-failures" ]; then
  n=$(cat "$FAKE/configure-failures"); echo $((n - 1)) >"$FAKE/configure-failures"
  [ "$n" -le 0 ] || { echo "dpkg: error: dpkg frontend lock was locked by another process with pid 812" >&2; exit 2; }
fi
if [ "$*" = "--configure -a" ] && [ -s "$FAKE/half-installed" ]; then
  while read -r p; do
    echo "dpkg: error processing package $p (--configure):" >&2
    echo " package $p is not ready for configuration" >&2
    echo " cannot configure (current status 'half-installed')" >&2
  done <"$FAKE/half-installed"
  exit 1
fi`,
  systemctl: `echo "systemctl $*" >>"$FAKE/calls.log"`,
  sleep: `echo "sleep $*" >>"$FAKE/calls.log"`,
  piot: `
echo "piot $*" >>"$FAKE/calls.log"
if [ -s "$FAKE/fetch-failures" ]; then
  n=$(cat "$FAKE/fetch-failures"); echo $((n - 1)) >"$FAKE/fetch-failures"
  [ "$n" -le 0 ] || { echo "error: git clone failed: could not resolve host" >&2; exit 1; }
fi
echo 0123456789abcdef0123456789abcdef01234567`,
  node: `
[ -e "$FAKE/installed-nodejs" ] || exit 127
case "$1" in -p) cat "$FAKE/node-major" 2>/dev/null || echo 18 ;; *) echo v18.19.0 ;; esac`,
};

let fake: string;

beforeEach(() => {
  fake = mkdtempSync(join(tmpdir(), 'piot-bootstrap-'));
  for (const [name, body] of Object.entries(STUBS)) {
    writeFileSync(join(fake, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(fake, name), 0o755);
  }
  writeFileSync(join(fake, 'device.yaml'), 'version: 1\nname: kitchen\nrepo: https://x/app.git\n');
});

function bootstrap(): { code: number | null; log: string; calls: string[] } {
  const result = spawnSync('bash', [script], {
    encoding: 'utf8',
    env: {
      PATH: `${fake}:${process.env.PATH}`,
      FAKE: fake,
      PIOT_DEVICE_FILE: join(fake, 'device.yaml'),
      PIOT_BOOTSTRAP_MARKER: join(fake, 'lib', 'bootstrapped'),
      PIOT_COMMAND: join(fake, 'piot'),
      PIOT_NODE: join(fake, 'node'),
    },
  });
  const calls = existsSync(join(fake, 'calls.log'))
    ? readFileSync(join(fake, 'calls.log'), 'utf8').trim().split('\n')
    : [];
  return { code: result.status, log: result.stdout + result.stderr, calls };
}

const steps = (log: string) => log.match(/^piot-bootstrap: step .*$/gm) ?? [];

describe('piot-bootstrap.sh', () => {
  it('on a bare device: updates, installs nodejs git ca-certificates openssh-client, fetches, starts the agent, marks done', () => {
    const { code, log, calls } = bootstrap();
    expect(code, log).toBe(0);
    expect(steps(log)).toEqual([
      'piot-bootstrap: step 1/5 apt-get update',
      'piot-bootstrap: step 2/5 apt-get upgrade: skipped (upgrade: false)',
      'piot-bootstrap: step 3/5 install nodejs git ca-certificates openssh-client',
      'piot-bootstrap: step 4/5 fetch the app repository',
      'piot-bootstrap: step 5/5 start the agent',
    ]);
    expect(calls.filter((c) => !c.startsWith('dpkg'))).toEqual([
      'apt-get -q -o Acquire::Languages=none update --error-on=any',
      expect.stringMatching(
        /^apt-get -q -y .* install --no-install-recommends nodejs git ca-certificates openssh-client$/,
      ),
      'piot fetch',
      'systemctl enable --now --no-block piot-agent.service',
    ]);
    expect(calls).toContain('dpkg --configure -a');
    expect(readFileSync(join(fake, 'lib', 'bootstrapped'), 'utf8')).toMatch(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\n$/,
    );
    expect(log).toMatch(/piot-bootstrap: done: \d{4}-/);
  });

  it('retries with a growing wait (5 s doubling, at most 5 min) and logs why each try failed', () => {
    writeFileSync(join(fake, 'update-failures'), '8');
    writeFileSync(join(fake, 'fetch-failures'), '2');
    const { code, log, calls } = bootstrap();
    expect(code, log).toBe(0);
    expect(calls.filter((c) => c.startsWith('sleep'))).toEqual([
      ...['5', '10', '20', '40', '80', '160', '300', '300'].map((s) => `sleep ${s}`),
      'sleep 5',
      'sleep 10',
    ]);
    expect(log).toContain(
      'piot-bootstrap: apt-get update failed (attempt 1, exit 100): E: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Connection refused; retrying in 5s',
    );
    expect(log).toContain(
      'piot-bootstrap: piot fetch failed (attempt 2, exit 1): error: git clone failed: could not resolve host; retrying in 10s',
    );
    expect(calls.filter((c) => c === 'piot fetch')).toHaveLength(3);
  });

  it('runs no apt-get when everything is installed and upgrade is off; upgrades when asked', () => {
    for (const p of ['nodejs', 'git', 'ca-certificates', 'openssh-client'])
      writeFileSync(join(fake, `installed-${p}`), '');
    let run = bootstrap();
    expect(run.code, run.log).toBe(0);
    expect(run.calls.filter((c) => c.startsWith('apt-get'))).toEqual([]);
    expect(steps(run.log)[2]).toBe(
      'piot-bootstrap: step 3/5 install nodejs git ca-certificates openssh-client: already installed',
    );

    writeFileSync(join(fake, 'calls.log'), '');
    writeFileSync(
      join(fake, 'device.yaml'),
      'version: 1\nname: k\nrepo: /r\nupgrade: true # weekly\n',
    );
    run = bootstrap();
    expect(run.code, run.log).toBe(0);
    expect(run.calls.filter((c) => c.startsWith('apt-get'))).toEqual([
      'apt-get -q -o Acquire::Languages=none update --error-on=any',
      expect.stringMatching(/^apt-get -q -y .*--force-confold upgrade$/),
    ]);
  });

  it('installs only what is missing, and finishes a run cut short', () => {
    writeFileSync(join(fake, 'installed-ca-certificates'), '');
    writeFileSync(join(fake, 'installed-nodejs'), '');
    writeFileSync(join(fake, 'installed-openssh-client'), '');
    const first = bootstrap();
    expect(first.calls).toContainEqual(
      expect.stringMatching(/install --no-install-recommends git$/),
    );
    // Run again (as after a power cut before the marker): nothing to install, still fetches.
    writeFileSync(join(fake, 'calls.log'), '');
    const again = bootstrap();
    expect(again.code, again.log).toBe(0);
    expect(again.calls).toEqual([
      'piot fetch',
      'systemctl enable --now --no-block piot-agent.service',
    ]);
  });

  it('reinstalls what a power cut left half installed, which dpkg --configure -a cannot mend', () => {
    writeFileSync(join(fake, 'half-installed'), 'perl-base\nlibperl5.36\n');
    const { code, log, calls } = bootstrap();
    expect(code, log).toBe(0);
    expect(log).toContain(
      'piot-bootstrap: reinstalling what a power cut left half installed: perl-base libperl5.36',
    );
    const apt = calls.filter((c) => !c.includes(' update'));
    expect(apt.slice(0, 4)).toEqual([
      'dpkg --configure -a',
      expect.stringMatching(
        /^apt-get -q -y .* install --reinstall --no-install-recommends perl-base libperl5\.36$/,
      ),
      'dpkg --configure -a',
      expect.stringMatching(
        / install --no-install-recommends nodejs git ca-certificates openssh-client$/,
      ),
    ]);
    // Mended at the first try: no wait, and nothing left half installed.
    expect(calls.filter((c) => c.startsWith('sleep'))).toEqual([]);
    expect(existsSync(join(fake, 'half-installed'))).toBe(false);
    expect(existsSync(join(fake, 'lib', 'bootstrapped'))).toBe(true);
  });

  it('retries dpkg --configure -a with a wait when nothing is half installed to reinstall', () => {
    writeFileSync(join(fake, 'configure-failures'), '2');
    const { code, log, calls } = bootstrap();
    expect(code, log).toBe(0);
    expect(calls.filter((c) => c === 'dpkg --configure -a')).toHaveLength(3);
    expect(calls.filter((c) => c.includes('--reinstall'))).toEqual([]);
    expect(calls.filter((c) => c.startsWith('sleep'))).toEqual(['sleep 5', 'sleep 10']);
    expect(log).toMatch(/dpkg --configure -a failed \(attempt 1, exit 2\): dpkg: error: .*lock/);
  });

  it('stops with a message when the device file is missing or Node.js is too old', () => {
    writeFileSync(join(fake, 'device.yaml'), '');
    spawnSync('rm', [join(fake, 'device.yaml')]);
    let run = bootstrap();
    expect(run.code).toBe(1);
    expect(run.log).toMatch(/piot-bootstrap: error: .*device\.yaml is missing/);

    writeFileSync(join(fake, 'device.yaml'), 'version: 1\nname: k\nrepo: /r\n');
    writeFileSync(join(fake, 'node-major'), '12');
    run = bootstrap();
    expect(run.code).toBe(1);
    expect(run.log).toMatch(/PioT needs Node\.js 18 or later/);
    expect(existsSync(join(fake, 'lib', 'bootstrapped'))).toBe(false);
  });
});
