import { main } from './main.js';
import { createProgram } from './program.js';
import { runCli } from './run.js';

await main((argv, ctx) => runCli(argv, ctx, createProgram));
