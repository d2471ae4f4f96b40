import { main } from '../cli/main.js';
import { quickDeploy } from '../cli/quick-deploy.js';

// `piot deploy --now` asks the running agent without loading the rest: the bundle keeps
// the modules below unevaluated until they are imported here.
await main(async (argv, ctx) => {
  const quick = await quickDeploy(argv, ctx);
  if (quick !== undefined) return quick;
  const [{ runCli }, { createDeviceProgram }] = await Promise.all([
    import('../cli/run.js'),
    import('./program.js'),
  ]);
  return runCli(argv, ctx, createDeviceProgram);
});
