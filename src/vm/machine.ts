import { access, constants, mkdir, mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { UserError } from '../errors.js';
import { startBackground, which, type Background, type RunResult } from '../sys/process.js';
import { freePort } from '../sys/ports.js';
import { createOverlay, isQcow2 } from '../sys/qemu-img.js';
import { qmp } from '../sys/qmp.js';
import { scpTo, ssh, sshBanner, sshMaster, type SshTarget } from '../sys/ssh.js';
import { readBootFiles, writeBootFiles } from './boot-files.js';
import {
  qemuArgs,
  qemuBinary,
  type GuestForward,
  type HostForward,
  type QemuPlan,
} from './qemu-args.js';

/** How to start a virtual Pi. */
export interface VmOptions {
  image: string;
  /** Boot the image itself instead of a throw-away copy-on-write overlay. */
  persist?: boolean;
  accel?: 'auto' | 'tcg' | 'kvm';
  memoryMiB?: number;
  cpus?: number;
  /** 'stdio' shares the terminal (and logs it); 'file' only logs. */
  console?: 'stdio' | 'file';
  /** Where the console log goes (appended); default a file in the VM's work directory. */
  consoleFile?: string;
  /** Guest ports to reach from the host on loopback; SSH (22) is always forwarded. */
  forwards?: { name: string; guestPort: number; hostPort?: number }[];
  guestForwards?: GuestForward[];
  /** Private key for SSH as `sshUser`; default IMAGE.ssh-key when it exists. */
  sshKey?: string;
  sshUser?: string;
  /** Guest clock start (ISO 8601, UTC). */
  clock?: string;
  /** Try KVM in auto mode even where /dev/kvm looks unusable (tests the fallback). */
  tryKvm?: boolean;
  /** Seconds to wait for a first console line under KVM before falling back to TCG. */
  kvmProbeSeconds?: number;
  /** Seconds QEMU may stay up after the guest's reset before it is ended (default 20). */
  resetGraceSeconds?: number;
  /**
   * Seconds a guest kernel that has printed its start may stay silent before it runs init;
   * after that its power is cycled (default 60; 0 never).
   */
  kernelStallSeconds?: number;
  log?: (message: string) => void;
}

const CONSOLE_TAIL_BYTES = 16 * 1024;

/** Console lines of a reboot under way (systemd's come earlier than the kernel's last one). */
const REBOOTING =
  /reboot: Restarting system|systemd-shutdown\[\d+\]: Rebooting|Reached target reboot\.target/;
/** The last lines before the guest resets: file systems are synced and read-only by then. */
const RESETTING =
  /reboot: Restarting system|reboot: machine restart|systemd-shutdown\[\d+\]: Rebooting\./;
/** The guest kernel's last word: nothing more happens on this boot. */
const PANIC = /Kernel panic - not syncing:[^\n]*/;
/** The guest kernel's report of a CPU or task stuck (it may or may not get over it). */
const LOCKUP =
  /watchdog: BUG: soft lockup[^\n]*|rcu: INFO: \S+ (?:self-)?detected stalls?[^\n]*|INFO: task \S+ blocked for more than[^\n]*/;
/** A line of the kernel's own start, as it prints it with printk times (not under `quiet`). */
const KERNEL_LINE = /^\[\s*\d+\.\d+\] /m;
/** The kernel has handed over to the initramfs or init: its own start is over. */
const KERNEL_DONE = /Run \S+ as init process|systemd\[1\]:/;

/** The guest's kernel panicked: the machine is stuck until its power is cycled. */
export class GuestKernelPanic extends Error {
  constructor(
    message: string,
    /** The kernel's panic line. */
    readonly panic: string,
  ) {
    super(message);
    this.name = 'GuestKernelPanic';
  }
}

/** A Raspberry Pi OS–shaped image running under QEMU, with its console, SSH and power switch. */
export class VirtualPi {
  readonly forwards: HostForward[];
  readonly consoleLog: string;
  accel: 'tcg' | 'kvm' = 'tcg';
  /** Guest kernel panics that waitForSsh recovered from by cycling the power. */
  panicsRecovered = 0;
  /** Guest kernels that stalled in their own start and got their power cycled. */
  stallsRecovered = 0;
  /** Boots where SSH never came after the guest kernel reported a lockup: power cycled. */
  lockupsRecovered = 0;
  private qemu: Background | undefined;
  private bootOffset = 0;
  private expectingExit = false;
  private stopped = false;
  private restarting: Promise<void> | undefined;
  /** Why booting again after a guest reboot failed, if it did. */
  private restartError: Error | undefined;
  private readonly disk: string;
  private readonly sshTarget: (SshTarget & { controlPath: string }) | undefined;
  /** The SSH connection that commands share (see sshMaster), while it is up. */
  private sshShared: Background | undefined;

  private constructor(
    private readonly options: VmOptions,
    private readonly workDir: string,
    disk: string,
    forwards: HostForward[],
  ) {
    this.disk = disk;
    this.forwards = forwards;
    this.consoleLog = options.consoleFile
      ? resolve(options.consoleFile)
      : join(workDir, 'console.log');
    const sshPort = forwards.find((f) => f.name === 'ssh')!.hostPort;
    this.sshTarget = options.sshKey
      ? {
          port: sshPort,
          user: options.sshUser ?? 'pi',
          key: options.sshKey,
          controlPath: join(workDir, 'ssh.sock'),
        }
      : undefined;
  }

  /** Boots the image (with a fresh overlay unless persist) and returns once QEMU runs. */
  static async start(options: VmOptions): Promise<VirtualPi> {
    const image = resolve(options.image);
    try {
      await access(image, constants.R_OK | (options.persist ? constants.W_OK : 0));
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UserError(`cannot use image ${image} (${code})`, {
        hint: code === 'ENOENT' ? 'check the path' : 'check its permissions (sudo?)',
      });
    }
    const workDir = await mkdtemp(join(tmpdir(), 'piot-vm-'));
    let disk = image;
    if (!options.persist) {
      disk = join(workDir, 'overlay.qcow2');
      await createOverlay(image, disk);
    }
    const forwards: HostForward[] = [];
    for (const f of [{ name: 'ssh', guestPort: 22 }, ...(options.forwards ?? [])]) {
      forwards.push({
        name: f.name,
        guestPort: f.guestPort,
        hostPort: ('hostPort' in f && f.hostPort) || (await freePort()),
      });
    }
    const sshKey =
      options.sshKey ?? ((await fileExists(`${image}.ssh-key`)) ? `${image}.ssh-key` : undefined);
    const vm = new VirtualPi({ ...options, sshKey }, workDir, disk, forwards);
    try {
      await vm.boot(options.accel ?? 'auto');
    } catch (error) {
      await vm.stop();
      throw error;
    }
    return vm;
  }

  /** The SSH port forward on 127.0.0.1. */
  get sshPort(): number {
    return this.forwards.find((f) => f.name === 'ssh')!.hostPort;
  }

  /** Notes what the machine does on its own (falls back, boots again, cycles the power). */
  private log(message: string): void {
    this.options.log?.(message);
  }

  private async boot(accel: 'auto' | 'tcg' | 'kvm'): Promise<void> {
    this.restartError = undefined;
    const files = await readBootFiles(this.disk);
    const bootDir = join(this.workDir, 'boot');
    await mkdir(bootDir, { recursive: true });
    const paths = await writeBootFiles(files, bootDir);
    const binary = qemuBinary(files.arch);
    if (!(await which(binary))) {
      throw new UserError(`${binary} is not installed`, {
        hint: `sudo apt-get install ${files.arch === 'amd64' ? 'qemu-system-x86' : 'qemu-system-arm'} qemu-utils`,
      });
    }
    const tryKvm =
      accel === 'kvm' ||
      (accel === 'auto' && (this.options.tryKvm || (await kvmUsable(files.arch))));
    const plan: QemuPlan = {
      arch: files.arch,
      accel: tryKvm ? 'kvm' : 'tcg',
      disk: this.disk,
      diskFormat: (await isQcow2(this.disk)) ? 'qcow2' : 'raw',
      kernel: paths.kernel,
      initrd: paths.initrd,
      dtb: paths.dtb,
      cmdline: files.cmdline,
      memoryMiB: this.options.memoryMiB ?? 1024,
      cpus: this.options.cpus ?? 2,
      hostForwards: this.forwards,
      guestForwards: this.options.guestForwards ?? [],
      console: this.options.console === 'stdio' ? 'stdio' : 'file',
      consoleLog: this.consoleLog,
      qmpSocket: join(this.workDir, 'qmp.sock'),
      clock: this.clock ?? this.options.clock,
      raspberryPi: files.raspberryPi,
    };
    if (accel !== 'auto' || !tryKvm) {
      await this.launch(binary, plan);
    } else {
      // KVM can be present and still hang guests: trust it only once the console speaks.
      const seconds = this.options.kvmProbeSeconds ?? 20;
      let reason: string | undefined;
      try {
        await this.launch(binary, plan);
        if (!(await this.consoleGrows(seconds * 1000)))
          reason = `no console output in ${seconds} s`;
      } catch (error) {
        reason = (error as Error).message.split('\n')[0];
      }
      if (reason) {
        this.log(`KVM did not work (${reason}); falling back to TCG`);
        await this.kill();
        plan.accel = 'tcg';
        await this.launch(binary, plan);
      }
    }
    this.accel = plan.accel;
  }

  private async launch(binary: string, plan: QemuPlan): Promise<void> {
    this.bootOffset = await fileSize(this.consoleLog);
    const args = qemuArgs(plan);
    this.expectingExit = false;
    const qemu = startBackground(binary, args, {
      stdio: plan.console === 'stdio' ? 'inherit' : ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    qemu.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    this.qemu = qemu;
    void qemu.exited.then(
      () => this.onExit(qemu, plan, binary),
      () => undefined,
    );
    // QEMU fails fast on bad arguments or a locked disk; give it a moment to say so.
    const early = await Promise.race([
      qemu.exited.then((code) => ({ code })),
      delay(500).then(() => undefined),
    ]);
    if (early) {
      throw new Error(
        `${binary} exited at once (code ${early.code}): ${stderr.trim() || 'no message'}`,
      );
    }
    void this.watchReset(qemu);
    void this.watchKernel(qemu);
  }

  /**
   * Under TCG a guest kernel can stall in its own start, an emulator fault that nothing in
   * the guest causes (seen: silent from 1.2 s on, in network set-up, for minutes). A kernel
   * that printed its first lines and then says nothing for kernelStallSeconds before it runs
   * init gets its power cycled, as a watchdog would. Panics are left to waitForSsh, and a
   * `quiet` kernel, which prints no start lines, is not watched.
   */
  private async watchKernel(qemu: Background): Promise<void> {
    const stallMs = (this.options.kernelStallSeconds ?? 60) * 1000;
    if (stallMs <= 0) return;
    let size = -1;
    let grewAt = Date.now();
    while (this.qemu === qemu && this.running && !this.stopped) {
      await delay(1000);
      if (this.qemu !== qemu || this.expectingExit || this.stopped) return;
      const text = await this.consoleTail(1024 * 1024).catch(() => '');
      if (KERNEL_DONE.test(text) || PANIC.test(text)) return;
      const now = await fileSize(this.consoleLog);
      if (now !== size) {
        size = now;
        grewAt = Date.now();
        continue;
      }
      if (!KERNEL_LINE.test(text) || Date.now() - grewAt < stallMs) continue;
      const last = text.trimEnd().split('\n').at(-1)?.trim() ?? '';
      this.log(
        `the guest kernel stalled (no console output for ${stallMs / 1000} s after "${last}"); cycling the power (full log: ${this.consoleLog})`,
      );
      this.stallsRecovered++;
      this.restarting = (async () => {
        await this.kill();
        await this.boot(this.accel);
      })().catch((error: unknown) => {
        this.qemu = undefined;
        this.restartError = error as Error;
        this.log(`booting again after the stall failed: ${(error as Error).message}`);
      });
      return;
    }
  }

  /**
   * With -no-reboot QEMU ends when the guest resets. Should it stay up after the guest's
   * last reboot line, end it, so that the reboot goes on as a Pi's would.
   */
  private async watchReset(qemu: Background): Promise<void> {
    const graceMs = (this.options.resetGraceSeconds ?? 20) * 1000;
    let seen: number | undefined;
    while (this.qemu === qemu && this.running && !this.stopped) {
      await delay(1000);
      if (this.qemu !== qemu || this.expectingExit) return;
      if (seen === undefined) {
        if (RESETTING.test(await this.consoleTail(4096).catch(() => ''))) seen = Date.now();
      } else if (Date.now() - seen > graceMs) {
        this.log(
          `QEMU still runs ${graceMs / 1000} s after the guest reset; ending it` +
            (this.accel === 'kvm' ? ' and booting again under TCG' : ''),
        );
        // A KVM guest that cannot reset is not one to trust with the next boot either.
        this.accel = 'tcg';
        qemu.kill('SIGKILL');
        return;
      }
    }
  }

  /** A guest reboot ends QEMU (-no-reboot); boot again reading the boot partition, as a Pi does. */
  private onExit(qemu: Background, plan: QemuPlan, binary: string): void {
    if (this.expectingExit || this.stopped || this.qemu !== qemu) return;
    this.restarting = (async () => {
      // The kernel's last line can be lost: newer kernels (trixie's 6.12) print to the serial
      // console from a thread that a reset may not wait for. systemd's lines come earlier.
      if (!REBOOTING.test(await this.consoleTail())) {
        this.qemu = undefined;
        return;
      }
      this.log('guest rebooted; booting again from the boot partition');
      try {
        const files = await readBootFiles(this.disk);
        const paths = await writeBootFiles(files, join(this.workDir, 'boot'));
        await this.launch(binary, {
          ...plan,
          accel: this.accel,
          kernel: paths.kernel,
          initrd: paths.initrd,
          cmdline: files.cmdline,
        });
      } catch (error) {
        this.qemu = undefined;
        this.restartError = error as Error;
        this.log(`booting again after the reboot failed: ${(error as Error).message}`);
      }
    })();
  }

  /** Resolves when the machine is off for good: powered off by the guest or stopped. */
  async whenOff(): Promise<void> {
    while (this.running || this.restarting) {
      await this.qemu?.exited.catch(() => undefined);
      await this.restarting;
      if (this.stopped) return;
      await delay(200);
    }
  }

  /** True while QEMU runs. */
  get running(): boolean {
    return (
      this.qemu !== undefined &&
      this.qemu.child.exitCode === null &&
      this.qemu.child.signalCode === null
    );
  }

  /** The console output of the current boot (the last 16 KiB of it). */
  async consoleTail(bytes = CONSOLE_TAIL_BYTES): Promise<string> {
    const size = await fileSize(this.consoleLog);
    const start = Math.max(this.bootOffset, size - bytes);
    if (size <= start) return '';
    const handle = await open(this.consoleLog, 'r');
    try {
      const { buffer, bytesRead } = await handle.read(
        Buffer.alloc(size - start),
        0,
        size - start,
        start,
      );
      return buffer.subarray(0, bytesRead).toString('utf8');
    } finally {
      await handle.close();
    }
  }

  private async consoleGrows(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if ((await fileSize(this.consoleLog)) > this.bootOffset) return true;
      if (!this.running) return false;
      await delay(250);
    }
    return false;
  }

  private async failure(message: string): Promise<Error> {
    const tail = (await this.consoleTail(4096)).split('\n').slice(-25).join('\n');
    const state = this.restartError
      ? `booting again after the guest's reboot failed: ${this.restartError.message}`
      : this.running
        ? 'QEMU is running'
        : `QEMU has ended (${this.qemu?.child.exitCode ?? this.qemu?.child.signalCode ?? 'gone'})`;
    return new Error(
      `${message}\n--- last console lines ---\n${tail}\n--- (${state}; full log: ${this.consoleLog})`,
    );
  }

  /** Waits until the console of the current boot matches pattern; fails with the console's tail. */
  async waitForConsole(pattern: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.restarting;
      const text = await this.consoleTail(1024 * 1024);
      const match = pattern.exec(text);
      if (match) return match[0];
      const panic = PANIC.exec(text)?.[0].trim();
      if (panic) throw await this.panicFailure(`waiting for ${pattern}`, panic);
      if (!this.running && !this.restarting)
        throw await this.failure(`the VM stopped before ${pattern} appeared`);
      if (Date.now() > deadline)
        throw await this.failure(`no ${pattern} on the console after ${timeoutMs / 1000} s`);
      await delay(250);
    }
  }

  private async panicFailure(what: string, panic: string): Promise<GuestKernelPanic> {
    const error = await this.failure(`${what}: the guest kernel panicked (${panic})`);
    return new GuestKernelPanic(error.message, panic);
  }

  /** The panic line when the guest kernel panicked during the current boot. */
  async kernelPanic(): Promise<string | undefined> {
    return PANIC.exec(await this.consoleTail().catch(() => ''))?.[0].trim();
  }

  /**
   * Waits until condition() resolves true; fails with the console's tail after timeoutMs,
   * and at once (a GuestKernelPanic) when the guest kernel panics.
   */
  async waitFor(
    what: string,
    condition: () => Promise<boolean>,
    timeoutMs: number,
    options: { intervalMs?: number } = {},
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await condition().catch(() => false))) {
      if (this.restartError) throw await this.failure(`${what}: the machine did not boot again`);
      const panic = await this.kernelPanic();
      if (panic) throw await this.panicFailure(what, panic);
      if (Date.now() > deadline)
        throw await this.failure(`${what}: not true after ${timeoutMs / 1000} s`);
      await delay(options.intervalMs ?? 1000);
    }
  }

  /**
   * Waits until SSH answers; returns the seconds it took from the call. A guest kernel that
   * panics on the way (an emulator fault under TCG, nothing a program in the guest causes)
   * gets its power cycled up to `panicRetries` times (default 1), each noted in the log and
   * counted in panicsRecovered. So does one whose SSH does not come in time after its kernel
   * reported a lockup (a CPU or task stuck, seen under TCG on a loaded host), counted in
   * lockupsRecovered.
   */
  async waitForSsh(timeoutMs = 180_000, options: { panicRetries?: number } = {}): Promise<number> {
    const started = Date.now();
    const retries = options.panicRetries ?? 1;
    for (let attempt = 0; ; attempt++) {
      try {
        const target = this.sshTarget;
        await this.waitFor(
          'SSH login',
          async () =>
            (!target || (await sshBanner(target, 2000))) &&
            (await this.ssh('true', { timeoutMs: 15_000 })).code === 0,
          timeoutMs,
          { intervalMs: 250 },
        );
        return (Date.now() - started) / 1000;
      } catch (error) {
        const panicked = error instanceof GuestKernelPanic;
        const lockup = panicked
          ? undefined
          : LOCKUP.exec(await this.consoleTail().catch(() => ''))?.[0].trim();
        if ((!panicked && !lockup) || attempt >= retries) throw error;
        const why = panicked
          ? `panicked (${error.panic})`
          : `reported a lockup (${lockup}) and SSH did not answer`;
        this.log(`the guest kernel ${why}; cycling the power (full log: ${this.consoleLog})`);
        if (panicked) this.panicsRecovered++;
        else this.lockupsRecovered++;
        await this.powerCut();
      }
    }
  }

  /** Runs a shell command on the guest as the SSH user. */
  async ssh(
    command: string,
    options: { input?: string | Uint8Array; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    if (!this.sshTarget) {
      throw new UserError('no SSH key for this image', {
        hint: 'pass sshKey (or --ssh-key) for a user in the image',
      });
    }
    const result = await ssh(this.sshTarget, command, options);
    if (result.code !== 255) this.shareConnection(this.sshTarget);
    return result;
  }

  /** Starts the connection that later commands share, unless it is up. */
  private shareConnection(target: SshTarget & { controlPath: string }): void {
    if (this.sshShared || !this.running || this.stopped) return;
    const master = sshMaster(target);
    this.sshShared = master;
    const gone = () => {
      if (this.sshShared === master) this.sshShared = undefined;
    };
    master.exited.then(gone, gone);
  }

  /** Runs a command and returns its stdout; throws with stderr and the exit code if it fails. */
  async sh(
    command: string,
    options: { input?: string | Uint8Array; timeoutMs?: number } = {},
  ): Promise<string> {
    const result = await this.ssh(command, options);
    if (result.code !== 0) {
      throw new Error(
        `guest command failed (exit ${result.code}): ${command}\n${result.stderr}${result.stdout}`,
      );
    }
    return result.stdout;
  }

  /** Copies a host file into the guest. */
  async copyTo(local: string, remote: string): Promise<void> {
    if (!this.sshTarget) throw new UserError('no SSH key for this image');
    const result = await scpTo(this.sshTarget, local, remote);
    if (result.code !== 0) throw new Error(`scp ${local} → ${remote} failed: ${result.stderr}`);
  }

  /** A guest clock set for the next power-on (the Pi was off until then). */
  private clock: string | undefined;

  /**
   * Cuts the power (no shutdown, unwritten guest data is lost) and switches it on again;
   * with `clock`, the guest wakes up at that time (ISO 8601, UTC), as after hours off;
   * `whileOff` runs while the power is off (the Pi stays off until it resolves).
   */
  async powerCut(options: { clock?: string; whileOff?: () => Promise<void> } = {}): Promise<void> {
    await this.kill();
    if (options.clock) this.clock = options.clock;
    await options.whileOff?.();
    // Like a real power cycle, the next boot rereads everything from the disk.
    await this.boot(this.accel);
  }

  /** Reboots the guest cleanly and waits for QEMU to boot it again. */
  async reboot(): Promise<void> {
    const before = this.qemu;
    await this.ssh('sudo systemctl reboot', { timeoutMs: 15_000 });
    const deadline = Date.now() + 120_000;
    while (this.qemu === before || this.restarting === undefined) {
      if (Date.now() > deadline) throw await this.failure('the guest did not reboot within 120 s');
      await delay(250);
    }
    await this.restarting;
    if (this.restartError) throw await this.failure('the guest did not boot again');
  }

  private async kill(): Promise<void> {
    this.sshShared?.kill();
    const qemu = this.qemu;
    if (!qemu) return;
    this.expectingExit = true;
    qemu.kill('SIGKILL');
    await qemu.exited.catch(() => undefined);
    this.qemu = undefined;
  }

  /** Stops QEMU and removes the overlay and work files (the image itself is kept). */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.restarting?.catch(() => undefined);
    const qemu = this.qemu;
    if (qemu && this.running) {
      this.expectingExit = true;
      // A persistent image deserves a clean power-off attempt; a throw-away overlay does not.
      if (this.options.persist) {
        await qmp(join(this.workDir, 'qmp.sock'), 'system_powerdown').catch(() => undefined);
        await Promise.race([qemu.exited, delay(60_000)]);
      }
    }
    await this.kill();
    await this.sshShared?.exited.catch(() => undefined);
    await rm(this.workDir, { recursive: true, force: true });
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolveDelay) => setTimeout(resolveDelay, ms));
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function fileExists(path: string): Promise<boolean> {
  return (await fileSize(path)) > 0;
}

/** KVM is worth trying when /dev/kvm is usable and the guest matches the host architecture. */
async function kvmUsable(arch: 'amd64' | 'arm64'): Promise<boolean> {
  const hostArch =
    process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : undefined;
  if (hostArch !== arch) return false;
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
