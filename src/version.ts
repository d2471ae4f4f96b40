import pkg from '../package.json' with { type: 'json' };

/** The PioT version, from package.json (inlined into bundles at build time). */
export const VERSION: string = pkg.version;
