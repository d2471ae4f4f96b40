import { join } from 'node:path';
import { packageRoot } from '../sys/package-root.js';

/** One file PioT installs on a device: where it comes from here and where it goes there. */
export interface PayloadFile {
  /** Absolute path of the file in the piot package on this machine. */
  source: string;
  /** Absolute path on the device. */
  path: string;
  mode: number;
}

/** The device paths of PioT's own programs (DESIGN.md, device layout). */
export const DEVICE_PATHS = {
  agent: '/usr/lib/piot/piot-agent.mjs',
  bootstrap: '/usr/lib/piot/piot-bootstrap.sh',
  jobRunner: '/usr/lib/piot/piot-job',
  command: '/usr/local/bin/piot',
  // PioT's own units live with the packaged ones: /etc/systemd/system is for rendered app units.
  bootstrapUnit: '/usr/lib/systemd/system/piot-bootstrap.service',
  agentUnit: '/usr/lib/systemd/system/piot-agent.service',
  /** Written by the bootstrap when it has succeeded; it does not run again while present. */
  bootstrapped: '/var/lib/piot/bootstrapped',
} as const;

/** The units to enable when installing the payload (bootstrap enables the agent itself). */
export const FIRST_BOOT_UNITS = ['piot-bootstrap.service'] as const;

/**
 * Every file a device needs from PioT, the same set for `piot image configure` and the tests.
 * `root` is the piot package directory; the agent bundle comes from its dist/ (npm run build).
 */
export function devicePayload(root: string = packageRoot()): PayloadFile[] {
  const files = join(root, 'src', 'device', 'files');
  return [
    { source: join(root, 'dist', 'piot-agent.mjs'), path: DEVICE_PATHS.agent, mode: 0o644 },
    { source: join(files, 'piot-bootstrap.sh'), path: DEVICE_PATHS.bootstrap, mode: 0o755 },
    { source: join(files, 'piot-job'), path: DEVICE_PATHS.jobRunner, mode: 0o755 },
    { source: join(files, 'piot'), path: DEVICE_PATHS.command, mode: 0o755 },
    {
      source: join(files, 'piot-bootstrap.service'),
      path: DEVICE_PATHS.bootstrapUnit,
      mode: 0o644,
    },
    { source: join(files, 'piot-agent.service'), path: DEVICE_PATHS.agentUnit, mode: 0o644 },
  ];
}

/** The first-boot script `piot image configure` puts on the boot partition. */
export function firstBootScript(root: string = packageRoot()): string {
  return join(root, 'src', 'device', 'files', 'piot-firstboot.sh');
}
