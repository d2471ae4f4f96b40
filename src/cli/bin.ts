import { main } from './main.js';
import { createProgram } from './program.js';

await main(createProgram);
