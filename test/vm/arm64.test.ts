import { expect, it } from 'vitest';
import { withVm } from './harness.js';

it('arm64 bookworm boots under qemu-system-aarch64 and runs Node 18', async () => {
  await withVm('bookworm-arm64-full', async (vm, seconds) => {
    console.log(`bookworm-arm64-full: SSH after ${seconds.toFixed(1)} s`);
    expect((await vm.sh('uname -m')).trim()).toBe('aarch64');
    expect(await vm.sh('nmcli -t -f DEVICE,STATE device')).toMatch(/^eth0:connected$/m);
    expect(await vm.sh('node --version')).toMatch(/^v18\./);
  });
});
