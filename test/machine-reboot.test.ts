import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VirtualPi } from '../src/vm/machine.js';
import { fakeKernel, makeBootDisk } from './support/boot-disk.js';

/**
 * A stand-in for qemu-system-x86_64 that plays one boot per start: the first ends with the
 * guest's reboot lines, or its kernel stops talking before or after it runs init
 * (FAKE_QEMU_FIRST); what the next start does is chosen by FAKE_QEMU_NEXT.
 */
const FAKE_QEMU = `#!/bin/sh
for arg in "$@"; do
  case "$arg" in file,id=con0,path=*) log="\${arg#file,id=con0,path=}"; log="\${log%,append=on}";; esac
done
n=$(( $(cat "$FAKE_QEMU_STARTS" 2>/dev/null || echo 0) + 1 ))
echo $n > "$FAKE_QEMU_STARTS"
kernel='[    1.211230] NET: Registered PF_INET protocol family\\n'
if [ $n = 1 ] && [ "$FAKE_QEMU_FIRST" = stalls ]; then
  printf "$kernel" >> "$log"
  exec sleep 300
fi
if [ $n = 1 ] && [ "$FAKE_QEMU_FIRST" = locks-up ]; then
  printf "$kernel"'[    3.590634] Run /init as init process\n[   48.120334] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [modprobe:311]\n' >> "$log"
  exec sleep 300
fi
if [ $n = 1 ] && [ "$FAKE_QEMU_FIRST" = runs-init ]; then
  printf "$kernel"'[    3.590634] Run /init as init process\\n' >> "$log"
  exec sleep 300
fi
if [ $n = 1 ]; then
  sleep 1
  printf 'piot-firstboot: done; rebooting\\nsystemd-shutdown[1]: Rebooting.\\nreboot: machine restart\\n' >> "$log"
  [ "$FAKE_QEMU_FIRST" = exits ] && exit 0
  exec sleep 300
fi
if [ "$FAKE_QEMU_NEXT" = fails ]; then echo "qemu-system-x86_64: could not open disk0" >&2; exit 1; fi
printf 'booted again (start %s)\\n' $n >> "$log"
exec sleep 300
`;

let vm: VirtualPi | undefined;
const savedPath = process.env.PATH;
afterEach(async () => {
  await vm?.stop();
  vm = undefined;
  process.env.PATH = savedPath;
  delete process.env.FAKE_QEMU_FIRST;
  delete process.env.FAKE_QEMU_NEXT;
});

async function startFake(
  env: {
    first?: 'exits' | 'hangs' | 'stalls' | 'runs-init' | 'locks-up';
    next?: 'boots' | 'fails';
  },
  log: string[],
): Promise<{ starts: () => Promise<number> }> {
  const dir = await mkdtemp(join(tmpdir(), 'piot-fake-qemu-'));
  await writeFile(join(dir, 'qemu-system-x86_64'), FAKE_QEMU);
  await chmod(join(dir, 'qemu-system-x86_64'), 0o755);
  process.env.PATH = `${dir}${delimiter}${savedPath ?? ''}`;
  process.env.FAKE_QEMU_STARTS = join(dir, 'starts');
  process.env.FAKE_QEMU_FIRST = env.first ?? 'hangs';
  process.env.FAKE_QEMU_NEXT = env.next ?? 'boots';
  const disk = makeBootDisk({ vmlinuz: fakeKernel(), 'cmdline.txt': 'console=ttyS0' });
  vm = await VirtualPi.start({
    image: disk,
    accel: 'tcg',
    resetGraceSeconds: 2,
    kernelStallSeconds: 2,
    log: (message) => log.push(message),
  });
  return {
    starts: async () => Number((await readFile(join(dir, 'starts'), 'utf8')).trim()),
  };
}

describe('a guest reboot on the virtual Pi', () => {
  it('boots again when QEMU ends at the reset', async () => {
    const log: string[] = [];
    const fake = await startFake({ first: 'exits' }, log);
    expect(await vm!.waitForConsole(/booted again \(start 2\)/, 15_000)).toBeTruthy();
    expect(await fake.starts()).toBe(2);
    expect(log).toContain('guest rebooted; booting again from the boot partition');
    expect(log.join('\n')).not.toMatch(/ending it/);
  });

  it('ends a QEMU that stays up after the guest reset, then boots again', async () => {
    const log: string[] = [];
    const fake = await startFake({ first: 'hangs' }, log);
    expect(await vm!.waitForConsole(/booted again \(start 2\)/, 15_000)).toBeTruthy();
    expect(await fake.starts()).toBe(2);
    expect(log).toContain('QEMU still runs 2 s after the guest reset; ending it');
  });

  it('cycles the power of a guest kernel that stalls in its own start', async () => {
    const log: string[] = [];
    const fake = await startFake({ first: 'stalls' }, log);
    expect(await vm!.waitForConsole(/booted again \(start 2\)/, 15_000)).toBeTruthy();
    expect(await fake.starts()).toBe(2);
    expect(vm!.stallsRecovered).toBe(1);
    expect(log.join('\n')).toMatch(
      /the guest kernel stalled \(no console output for 2 s after "\[ {4}1\.211230\] NET: Registered PF_INET protocol family"\); cycling the power/,
    );
  });

  it('cycles the power once when SSH does not come after the kernel reported a lockup', async () => {
    const log: string[] = [];
    const fake = await startFake({ first: 'locks-up' }, log);
    await expect(vm!.waitForSsh(3000)).rejects.toThrow(/SSH login: not true after 3 s/);
    expect(await fake.starts()).toBe(2);
    expect(vm!.lockupsRecovered).toBe(1);
    expect(log.join('\n')).toMatch(
      /the guest kernel reported a lockup \(watchdog: BUG: soft lockup - CPU#0 stuck for 22s! \[modprobe:311\]\) and SSH did not answer; cycling the power/,
    );
  });

  it('leaves a quiet guest alone once its kernel has run init', async () => {
    const log: string[] = [];
    const fake = await startFake({ first: 'runs-init' }, log);
    await vm!.waitForConsole(/Run \/init as init process/, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 5000));
    expect(await fake.starts()).toBe(1);
    expect(vm!.stallsRecovered).toBe(0);
    expect(log).toEqual([]);
  });

  it('says why the machine did not boot again instead of waiting out the timeout', async () => {
    const log: string[] = [];
    await startFake({ first: 'exits', next: 'fails' }, log);
    const started = Date.now();
    const waiting = vm!.waitFor('SSH login', () => Promise.resolve(false), 60_000);
    await expect(waiting).rejects.toThrow(/SSH login: the machine did not boot again/);
    await expect(waiting).rejects.toThrow(/could not open disk0/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
