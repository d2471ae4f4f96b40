import type { Command } from 'commander';
import { piotYamlJsonSchema } from '../../spec/json-schema.js';
import { referenceMarkdown } from '../../spec/reference.js';
import type { CliContext } from '../context.js';

export function registerSchema(program: Command, ctx: CliContext): void {
  program
    .command('schema')
    .description('print the JSON Schema of .piot.yaml (for editors and other validators)')
    .option('--markdown', 'print the reference documentation instead (docs/piot-yaml.md)')
    .addHelpText(
      'after',
      `
Examples:
  piot schema > .piot/piot-yaml.schema.json
  piot schema --markdown > docs/piot-yaml.md`,
    )
    .action((options: { markdown?: boolean }) => {
      const schema = piotYamlJsonSchema();
      ctx.out(
        options.markdown ? referenceMarkdown(schema) : `${JSON.stringify(schema, null, 2)}\n`,
      );
    });
}
