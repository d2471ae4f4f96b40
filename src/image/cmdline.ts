/** Where the boot partition is mounted on Raspberry Pi OS Bookworm and Trixie. */
export const BOOT_MOUNT = '/boot/firmware';

/** The first-boot script's path on the device. */
export const FIRST_BOOT_SCRIPT = `${BOOT_MOUNT}/piot/firstboot.sh`;

/**
 * The kernel arguments that run PioT's first boot, as Raspberry Pi Imager runs its
 * firstrun.sh: systemd runs the script as the only job of a minimal boot, then reboots.
 */
export const FIRST_BOOT_ARGS = [
  `systemd.run=${FIRST_BOOT_SCRIPT}`,
  'systemd.run_success_action=reboot',
  'systemd.unit=kernel-command-line.target',
] as const;

const OURS = /^systemd\.(run|run_success_action|run_failure_action|unit)=/;

/** The command line without any first-boot hook (PioT's or another tool's systemd.run). */
export function withoutFirstBoot(cmdline: string): string {
  return cmdline
    .trim()
    .split(/\s+/)
    .filter((arg) => arg !== '' && !OURS.test(arg))
    .join(' ');
}

/** The command line with PioT's first-boot hook appended (once, whatever was there before). */
export function withFirstBoot(cmdline: string): string {
  return [withoutFirstBoot(cmdline), ...FIRST_BOOT_ARGS].join(' ');
}
