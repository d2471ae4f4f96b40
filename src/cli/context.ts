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
