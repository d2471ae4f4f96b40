import { cachedImage, parseVariant } from '../../src/vm/images.js';
import { VirtualPi, type VmOptions } from '../../src/vm/machine.js';

/** Boot budget under TCG on a loaded 2-core machine, generous on purpose. */
export const BOOT_TIMEOUT_MS = 240_000;

/** The cached image of a variant (e.g. bookworm-amd64-full); fails, never builds, if missing. */
export function image(variant: string): Promise<string> {
  return cachedImage(parseVariant(variant));
}

/** Boots a variant with a fresh overlay, waits for SSH, runs fn, and always stops QEMU. */
export async function withVm<T>(
  variant: string,
  fn: (vm: VirtualPi, bootSeconds: number) => Promise<T>,
  options: Partial<VmOptions> = {},
): Promise<T> {
  const started = Date.now();
  const vm = await VirtualPi.start({
    image: process.env.PIOT_TEST_IMAGE_OVERRIDE ?? (await image(variant)),
    accel: 'tcg',
    console: 'file',
    log: (message) => console.error(`[virtual Pi] ${message}`),
    ...options,
  });
  try {
    await vm.waitForSsh(BOOT_TIMEOUT_MS);
    return await fn(vm, (Date.now() - started) / 1000);
  } finally {
    await vm.stop();
  }
}
