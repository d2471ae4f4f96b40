import type { Command } from 'commander';
import {
  addDeviceSettingsOptions,
  configureImage,
  deviceSettings,
  type DeviceSettingsOptions,
} from '../image-settings.js';
import type { CliContext } from '../context.js';
import { addImageFetch } from './image-fetch.js';

interface ConfigureOptions extends DeviceSettingsOptions {
  out?: string;
  json?: boolean;
}

/** `piot image`: fetch, configure. */
export function registerImage(program: Command, ctx: CliContext): void {
  const image = program.command('image').description('get and prepare Raspberry Pi OS images');
  addImageFetch(image, ctx);
  const configure = image
    .command('configure')
    .description(
      "write a device's name, user, keys, Wi-Fi and repository into an image (no root, no mounting)",
    )
    .argument('<image>', 'a Raspberry Pi OS .img or .img.xz, or a mounted boot partition directory')
    .option(
      '--out <file>',
      'write a configured copy instead of changing IMAGE (needed for .img.xz)',
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  piot image configure raspios.img --device kitchen --user ada --ssh-key ~/.ssh/id_ed25519.pub \\
    --wifi-country GB --wifi 'Home:correct horse' --repo https://github.com/me/app.git
  piot image configure raspios.img.xz --out kitchen.img --from kitchen.yaml
  piot image configure /media/$USER/bootfs --device hall --repo …   (a card written by Imager)

Secrets (Wi-Fi keys, password hash, device keys) stay on the boot partition only until the
first boot moves them into root-only files and wipes them.`,
    )
    .action(async (imagePath: string, options: ConfigureOptions) => {
      const settings = await deviceSettings(options, ctx);
      await configureImage(imagePath, settings, options, ctx);
    });
  addDeviceSettingsOptions(configure);
}
