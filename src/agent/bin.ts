import { main } from '../cli/main.js';
import { createDeviceProgram } from './program.js';

await main(createDeviceProgram);
