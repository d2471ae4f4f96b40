import pc from 'picocolors';

/** What a command may use of its surroundings; tests pass their own. */
export interface CliContext {
  cwd: string;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Colours only on a terminal (and never with NO_COLOR). */
  color: boolean;
  env: NodeJS.ProcessEnv;
}

/** Colour functions that are no-ops when colour is off. */
export function colors(ctx: CliContext) {
  return pc.createColors(ctx.color);
}

/** How a deploy outcome is coloured: green when it succeeded, plain while under way, red otherwise. */
export function deployKindColor(
  kind: string,
  c: { green: (text: string) => string; red: (text: string) => string },
): ((text: string) => string) | undefined {
  if (kind === 'succeeded') return c.green;
  if (kind === 'started') return undefined;
  return c.red;
}
