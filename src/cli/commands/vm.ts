import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { buildImage, cachedImage, parseVariant, VARIANTS, variantName } from '../../vm/images.js';
import { VirtualPi } from '../../vm/machine.js';
import { colors, type CliContext } from '../context.js';

/** The agent's metrics port on the device, forwarded by `piot vm`. */
const METRICS_PORT = 9110;

interface VmRunOptions {
  persist?: boolean;
  console?: string;
  accel: string;
  memory: string;
  cpus: string;
  forward: string[];
  sshKey?: string;
  clock?: string;
}

function parseForward(text: string): { name: string; guestPort: number; hostPort?: number } {
  const match = /^([a-z][a-z0-9-]*)=(\d+)(?::(\d+))?$/.exec(text);
  if (!match) {
    throw new UserError(`--forward ${text} is not NAME=GUEST_PORT[:HOST_PORT]`, {
      hint: '--forward web=8080:18080',
      exitCode: 2,
    });
  }
  return {
    name: match[1]!,
    guestPort: Number(match[2]),
    hostPort: match[3] ? Number(match[3]) : undefined,
  };
}

async function resolveImage(image: string, cwd: string): Promise<string> {
  const path = resolve(cwd, image);
  if (existsSync(path)) return path;
  if (/^[a-z]+-[a-z0-9]+-[a-z]+$/.test(image)) return cachedImage(parseVariant(image));
  throw new UserError(`image ${image} does not exist`, {
    hint: `give an .img file or a virtual Pi variant (${VARIANTS.map(variantName).join(', ')})`,
  });
}

export function registerVm(program: Command, ctx: CliContext): void {
  const vm = program
    .command('vm')
    .description('boot an image in QEMU as the Pi firmware would (the virtual Pi)')
    .argument('[image]', 'an .img file, or a virtual Pi variant such as bookworm-amd64-full')
    .option('--persist', 'write to the image itself (default: a throw-away copy-on-write overlay)')
    .option('--console <file>', 'send the serial console to a file instead of this terminal')
    .option('--accel <mode>', 'auto (KVM if it answers, else TCG), tcg or kvm', 'auto')
    .option('--memory <MiB>', 'guest memory', '1024')
    .option('--cpus <n>', 'guest CPUs', '2')
    .option(
      '--forward <name=guest[:host]>',
      'forward a guest TCP port to 127.0.0.1 (repeatable)',
      (v: string, all: string[]) => [...all, v],
      [],
    )
    .option('--ssh-key <file>', 'private key to log in with (default: IMAGE.ssh-key)')
    .option('--clock <iso>', 'start the guest clock at this UTC time, e.g. 2027-01-01T02:59:00')
    .addHelpText(
      'after',
      `
Kernel, initramfs and cmdline.txt come from the image's boot partition on every
boot (edits to cmdline.txt take effect). The guest network reaches nothing but the
printed forwards. With the console on this terminal, Ctrl-A X quits QEMU.

A real Raspberry Pi OS image boots on QEMU's raspi3b machine with the image's own
kernel8.img and device tree. That path cannot be tested without such an image.

Examples:
  sudo piot vm build bookworm-amd64-full      build the virtual Pi image once
  piot vm bookworm-amd64-full                 boot it, console here
  piot vm my.img --console vm.log --forward web=8080`,
    )
    .action(async (image: string | undefined, options: VmRunOptions) => {
      if (!image) {
        vm.outputHelp();
        return;
      }
      const c = colors(ctx);
      const accel = options.accel;
      if (accel !== 'auto' && accel !== 'tcg' && accel !== 'kvm') {
        throw new UserError(`--accel ${accel} is not auto, tcg or kvm`, { exitCode: 2 });
      }
      const path = await resolveImage(image, ctx.cwd);
      const machine = await VirtualPi.start({
        image: path,
        persist: options.persist,
        accel,
        memoryMiB: Number(options.memory),
        cpus: Number(options.cpus),
        console: options.console ? 'file' : 'stdio',
        consoleFile: options.console ? resolve(ctx.cwd, options.console) : undefined,
        forwards: [
          { name: 'metrics', guestPort: METRICS_PORT },
          ...options.forward.map(parseForward),
        ],
        sshKey: options.sshKey,
        clock: options.clock,
        log: (message) => ctx.err(`${c.dim('piot vm:')} ${message}\n`),
      });
      ctx.err(
        `${c.bold('piot vm')}: ${path}${options.persist ? ' (persistent)' : ' (overlay, discarded at exit)'}, ${machine.accel}\n`,
      );
      for (const f of machine.forwards) {
        const how =
          f.name === 'ssh' ? `ssh -p ${f.hostPort} pi@127.0.0.1` : `127.0.0.1:${f.hostPort}`;
        ctx.err(`  ${f.name.padEnd(8)} guest :${f.guestPort} → ${how}\n`);
      }
      if (options.console) ctx.err(`  console  ${machine.consoleLog}\n`);
      const stop = () => void machine.stop();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        await machine.whenOff();
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        await machine.stop();
      }
    });

  vm.command('build')
    .description(
      'build virtual Pi images (Debian, shaped like Raspberry Pi OS Lite) into the cache',
    )
    .argument('[variants...]', `variants (default: all): ${VARIANTS.map(variantName).join(', ')}`)
    .addHelpText(
      'after',
      `
Images are cached in /var/cache/piot/vm (or $PIOT_VM_CACHE) under a hash of their
recipe and built only when missing. Needs root (debootstrap).

Examples:
  sudo piot vm build bookworm-amd64-full
  sudo piot vm build`,
    )
    .action(async (names: string[]) => {
      const variants = names.length ? names.map(parseVariant) : VARIANTS;
      // One lane per architecture: an arm64 build spends most of its time in qemu-user on
      // one core, so it runs beside the amd64 builds (build.sh shares the package cache
      // under a lock). Within a lane, builds take turns.
      const lanes = new Map<string, typeof variants>();
      for (const variant of variants) {
        lanes.set(variant.arch, [...(lanes.get(variant.arch) ?? []), variant]);
      }
      // A failed build stops its own lane only: the other lane's build runs to its end.
      const results = await Promise.allSettled(
        [...lanes.values()].map(async (lane) => {
          for (const variant of lane) {
            const started = Date.now();
            const result = await buildImage(variant);
            const seconds = ((Date.now() - started) / 1000).toFixed(0);
            ctx.out(
              `${variantName(variant)}: ` +
                (result.built
                  ? `built in ${seconds} s: ${result.path}\n`
                  : `cached: ${result.path}\n`),
            );
          }
        }),
      );
      const failed = results.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    });
}
