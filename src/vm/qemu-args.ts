/** A TCP port forward from a loopback port on the host into the guest. */
export interface HostForward {
  name: string;
  hostPort: number;
  guestPort: number;
}

/** A guest address:port that reaches a loopback service on the host. */
export interface GuestForward {
  guestAddress: string;
  guestPort: number;
  hostPort: number;
  /**
   * 'one' (default): QEMU connects a chardev to the host port once, so the forward serves a
   * single guest connection. 'many': QEMU runs a small Node relay for each guest connection
   * (what HTTP clients such as apt and git need).
   */
  connections?: 'one' | 'many';
}

/** Everything that decides a QEMU command line for the virtual Pi. */
export interface QemuPlan {
  arch: 'amd64' | 'arm64';
  accel: 'tcg' | 'kvm';
  disk: string;
  diskFormat: 'qcow2' | 'raw';
  kernel: string;
  initrd?: string | undefined;
  dtb?: string | undefined;
  cmdline: string;
  memoryMiB: number;
  cpus: number;
  hostForwards: HostForward[];
  guestForwards: GuestForward[];
  /** Serial console: on the terminal (and logged) or only in the log file; appended across boots. */
  console: 'stdio' | 'file';
  consoleLog: string;
  qmpSocket: string;
  /** Start the guest clock at this time (ISO 8601, UTC) instead of now. */
  clock?: string | undefined;
  /** A real Raspberry Pi OS image on QEMU's raspi3b machine. */
  raspberryPi?: boolean;
  /** The Node.js binary that relays connections of 'many' guest forwards (default this one). */
  node?: string;
}

/** The QEMU binary for an architecture. */
export function qemuBinary(arch: 'amd64' | 'arm64'): string {
  return arch === 'amd64' ? 'qemu-system-x86_64' : 'qemu-system-aarch64';
}

/**
 * The argument list for QEMU. The guest network is QEMU's user network with
 * `restrict=on`: the guest reaches nothing but the explicit forwards.
 */
export function qemuArgs(plan: QemuPlan): string[] {
  const args: string[] = [];
  if (plan.raspberryPi) {
    // Untested here (no Raspberry Pi OS image can be fetched in CI): the raspi3b
    // machine boots the image's own kernel8.img and device tree from an SD card.
    args.push('-M', 'raspi3b', '-m', '1024', '-dtb', plan.dtb ?? '');
    args.push('-drive', `file=${plan.disk},if=sd,format=${plan.diskFormat}`);
    args.push('-kernel', plan.kernel, '-append', kernelCmdline(plan));
    args.push('-netdev', netdev(plan), '-device', 'usb-net,netdev=net0');
  } else {
    if (plan.arch === 'arm64')
      args.push('-M', 'virt', '-cpu', plan.accel === 'kvm' ? 'host' : 'cortex-a57');
    // With QEMU's default qemu64 CPU (no RDRAND) the kernel's live patching when the
    // random pool becomes ready can race with multi-threaded TCG and oops a guest.
    if (plan.arch === 'amd64') args.push('-cpu', plan.accel === 'kvm' ? 'host' : 'max');
    args.push('-accel', plan.accel, '-m', String(plan.memoryMiB), '-smp', String(plan.cpus));
    args.push('-kernel', plan.kernel);
    if (plan.initrd) args.push('-initrd', plan.initrd);
    args.push('-append', kernelCmdline(plan));
    args.push(
      '-drive',
      `file=${plan.disk},if=none,id=disk0,format=${plan.diskFormat},discard=unmap`,
    );
    args.push('-device', 'virtio-blk-pci,drive=disk0');
    args.push('-netdev', netdev(plan), '-device', 'virtio-net-pci,netdev=net0');
    args.push('-device', 'virtio-rng-pci');
  }
  args.push('-nographic', '-no-reboot');
  if (plan.console === 'stdio') {
    args.push(
      '-chardev',
      `stdio,id=con0,mux=on,signal=off,logfile=${plan.consoleLog},logappend=on`,
    );
    args.push('-serial', 'chardev:con0', '-mon', 'chardev=con0,mode=readline');
  } else {
    args.push(
      '-chardev',
      `file,id=con0,path=${plan.consoleLog},append=on`,
      '-serial',
      'chardev:con0',
    );
    args.push('-monitor', 'none');
  }
  args.push('-qmp', `unix:${plan.qmpSocket},server=on,wait=off`);
  if (plan.clock) args.push('-rtc', `base=${plan.clock.replace(/\.\d+Z?$|Z$/, '')},clock=vm`);
  return args;
}

/**
 * The image's kernel command line, with `norandmaps` under TCG. QEMU keeps the machine code
 * it translated by guest address, and with address space layout randomization each new
 * process maps its libraries elsewhere, so all its code is translated anew: Node.js took
 * 3.4–3.7 s to start in the amd64 guest, 1.8–2.1 s without randomization. On a real Pi,
 * with no translation, randomization costs nothing, and the image keeps it.
 */
export function kernelCmdline(plan: Pick<QemuPlan, 'accel' | 'cmdline'>): string {
  if (plan.accel !== 'tcg' || /(^|\s)norandmaps(\s|$)/.test(plan.cmdline)) return plan.cmdline;
  return `${plan.cmdline} norandmaps`;
}

function netdev(plan: QemuPlan): string {
  const parts = ['user', 'id=net0', 'restrict=on'];
  for (const f of plan.hostForwards)
    parts.push(`hostfwd=tcp:127.0.0.1:${f.hostPort}-:${f.guestPort}`);
  for (const f of plan.guestForwards) {
    const target =
      f.connections === 'many'
        ? `cmd:${relayCommand(plan.node ?? process.execPath, f.hostPort)}`
        : `tcp:127.0.0.1:${f.hostPort}`;
    // A comma inside an option value is written twice on QEMU's command line.
    parts.push(`guestfwd=tcp:${f.guestAddress}:${f.guestPort}-${target.replaceAll(',', ',,')}`);
  }
  return parts.join(',');
}

// Relays stdin (QEMU hands it the guest connection as a socket on fds 0-2) to 127.0.0.1:port,
// both ways, with half-closes passed on; exits once the guest side is closed. Nothing may be
// written to stderr: it is the guest's connection too.
const RELAY = [
  'const n=require("net")',
  'const g=new n.Socket({fd:0,readable:true,writable:true,allowHalfOpen:true})',
  'const h=n.connect({port:+process.argv[1],host:"127.0.0.1",allowHalfOpen:true})',
  'g.pipe(h)',
  'h.pipe(g)',
  'h.on("error",()=>g.destroy())',
  'g.on("error",()=>h.destroy())',
  'g.on("close",()=>process.exit(0))',
].join(';');

/**
 * The command QEMU runs for each guest connection of a 'many' forward (QEMU splits it into
 * arguments like a shell, without running one): Node relaying the connection to the host port.
 */
export function relayCommand(node: string, hostPort: number): string {
  const quote = (word: string) => `'${word.replaceAll("'", `'"'"'`)}'`;
  return [quote(node), '--no-warnings', '-e', quote(RELAY), String(hostPort)].join(' ');
}
