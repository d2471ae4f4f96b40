import type { Command } from 'commander';
import cluster from 'node:cluster';
import { resolve } from 'node:path';
import { UserError } from '../../errors.js';
import { createApiToken, createEnrolmentToken, setUserPassword } from '../../hub/admin.js';
import { createAlerts } from '../../hub/alerts/engine.js';
import { parseThreshold } from '../../hub/alerts/options.js';
import type { AlertThresholds } from '../../hub/alerts/rules.js';
import { parseWebhook, type Webhook } from '../../hub/alerts/webhooks.js';
import { startRetention } from '../../hub/retention.js';
import { parseListen, startHub } from '../../hub/serve.js';
import { openStore, type StoreLocation } from '../../hub/store/open.js';
import type { Store } from '../../hub/store/store.js';
import { hubWorkerIndex, MAX_WORKERS, reportListening, runHubWorkers } from '../../hub/workers.js';
import type { CliContext } from '../context.js';
import { hubClient } from '../hub-client.js';
import { hubConfigPath, normalizeHubUrl, writeHubConfig } from '../hub-config.js';
import { promptHidden, readStdin, withoutFinalNewline } from '../prompt.js';

interface StoreOptions {
  data?: string;
  database?: string;
}

function withStoreOptions(command: Command): Command {
  return command
    .option('--data <dir>', 'keep the hub in DIR/hub.db (SQLite)')
    .option('--database <url>', 'keep the hub in PostgreSQL instead (postgres://…)', undefined);
}

interface HubOptions extends StoreOptions {
  listen: string;
  webhook: Webhook[];
  alertThreshold: Partial<AlertThresholds>;
  publicUrl?: string;
  workers: number;
}

function parseWorkers(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > MAX_WORKERS) {
    throw new UserError(`--workers ${text} is not a number of processes from 1 to ${MAX_WORKERS}`, {
      hint: '--workers 2 (about one per core; best with --database)',
      exitCode: 2,
    });
  }
  return n;
}

/** Where --data or --database (or $PIOT_HUB_DATABASE) puts the store; an error if nowhere. */
function storeLocation(ctx: CliContext, options: StoreOptions): StoreLocation {
  const database = options.database ?? ctx.env.PIOT_HUB_DATABASE;
  if (!database && !options.data) {
    throw new UserError('the hub needs --data DIR (SQLite) or --database postgres://…', {
      hint: 'piot hub --data /var/lib/piot-hub',
      exitCode: 2,
    });
  }
  return { database, data: options.data && resolve(ctx.cwd, options.data) };
}

async function withStore<T>(
  ctx: CliContext,
  options: StoreOptions,
  fn: (store: Store) => Promise<T>,
): Promise<T> {
  const location = storeLocation(ctx, options);
  let store: Store;
  try {
    store = await openStore(location);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new UserError(`cannot open the hub's store: ${message}`, {
      hint: location.database ? 'check the URL, and that PostgreSQL runs' : 'check the directory',
      cause: error,
    });
  }
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

export function registerHub(program: Command, ctx: CliContext): void {
  const hub = withStoreOptions(program.command('hub'))
    .description('run the hub: device registry, health history and the fleet API')
    .option('--listen <host:port>', 'where to serve HTTP', '127.0.0.1:8800')
    .option(
      '--webhook <url>',
      'send alerts to URL (generic JSON), ntfy:URL or slack:URL; repeatable',
      (spec: string, all: Webhook[]) => [...all, parseWebhook(spec)],
      [],
    )
    .option(
      '--alert-threshold <name=value>',
      'change a threshold: temperature=°C, disk=percent, offline=seconds; repeatable',
      (spec: string, all: Record<string, number>) => ({ ...all, ...parseThreshold(spec) }),
      {},
    )
    .option('--public-url <url>', "the hub's address as people reach it, linked from alerts")
    .option(
      '--workers <n>',
      'hub processes serving the port, about one per core (best with --database)',
      parseWorkers,
      1,
    )
    .addHelpText(
      'after',
      `
Examples:
  piot hub --data /var/lib/piot-hub                   SQLite, on 127.0.0.1:8800
  piot hub --database postgres://hub@db/piot --listen 0.0.0.0:8800
  piot hub --database postgres://hub@db/piot --workers 2   two processes on one port
  piot hub --data /var/lib/piot-hub --webhook ntfy:https://ntfy.sh/my-fleet
  piot hub token create --data /var/lib/piot-hub      an enrolment token for hub_token
  echo "$PASSWORD" | piot hub user add ada --data /var/lib/piot-hub
  piot hub login --url https://hub.example.org      where piot devices, status… find the hub`,
    )
    .action(async (options: HubOptions) => {
      const listen = parseListen(options.listen);
      if (options.workers > 1 && cluster.isPrimary) {
        storeLocation(ctx, options); // a missing --data/--database is told once, here
        const code = await runHubWorkers(options.workers, (line) => ctx.out(`${line}\n`));
        if (code !== 0) {
          throw new UserError("the hub's processes could not start", {
            hint: 'see their errors above',
          });
        }
        return;
      }
      const worker = hubWorkerIndex();
      try {
        await withStore(ctx, options, async (store) => {
          const alerts = createAlerts({
            store,
            webhooks: options.webhook,
            thresholds: options.alertThreshold,
            hubUrl: options.publicUrl ?? `http://${options.listen}`,
          });
          const running = await startHub({ store, alerts }, listen);
          // Work one process does for all: retention, and the alerts' periodic checks.
          const first = worker === undefined || worker === 1;
          const stopRetention = first ? startRetention(store) : () => undefined;
          const stopAlerts = first ? alerts.start() : () => undefined;
          if (worker === undefined) ctx.out(`hub listening on ${running.url}\n`);
          else reportListening(running.url);
          await new Promise<void>((done) => {
            process.once('SIGINT', done);
            process.once('SIGTERM', done);
          });
          stopAlerts();
          stopRetention();
          await running.close();
          await alerts.idle();
        });
      } finally {
        // A worker's channel to the primary would keep it running, also after an error.
        if (worker !== undefined) cluster.worker?.disconnect();
      }
    });

  const token = hub.command('token').description('enrolment and API tokens');
  withStoreOptions(token.command('create'))
    .description('print a new one-time enrolment token (give it to image configure as hub_token)')
    .option('--expires <duration>', 'refuse it after this long, e.g. 7d (default: never)')
    .option('--api <user>', 'make an API token for this user instead')
    .action(async (_: unknown, command: Command) => {
      // --data and --database may come before or after the subcommand (hub's own options).
      const options = command.optsWithGlobals<StoreOptions & { expires?: string; api?: string }>();
      await withStore(ctx, options, async (store) => {
        const now = Date.now();
        const made = options.api
          ? await createApiToken(store, options.api, { label: 'cli', now })
          : (await createEnrolmentToken(store, { expires: options.expires, now })).token;
        ctx.out(`${made}\n`);
      });
    });

  const user = hub.command('user').description('people who may use the dashboard and API');
  withStoreOptions(user.command('add'))
    .description('add a user, or set their password; the password is read from stdin')
    .argument('<name>', 'the login name')
    .action(async (name: string, _: unknown, command: Command) => {
      const options = command.optsWithGlobals<StoreOptions>();
      const password = (await readStdin()).replace(/\r?\n$/, '');
      await withStore(ctx, options, (store) => setUserPassword(store, name, password, Date.now()));
      ctx.err(`user ${name} can log in\n`);
    });

  const device = hub.command('device').description("the hub's devices");
  withStoreOptions(device.command('revoke'))
    .description(
      'refuse every further request of a device (a lost or replaced card); it may enrol again with a new token and key',
    )
    .argument('<name>', 'the device')
    .addHelpText('after', '\nExamples:\n  piot hub device revoke kitchen --data /var/lib/piot-hub')
    .action(async (name: string, _: unknown, command: Command) => {
      const options = command.optsWithGlobals<StoreOptions>();
      await withStore(ctx, options, async (store) => {
        if (!(await store.revokeDevice(name))) {
          throw new UserError(`the hub has no device named ${name}`, {
            hint: 'piot devices lists them',
          });
        }
      });
      ctx.err(`${name} is revoked: the hub refuses its requests from now on\n`);
    });

  hub
    .command('login')
    .description(
      'save the hub and your API token for the fleet commands (piot devices, status, logs…)',
    )
    .requiredOption('--url <url>', "the hub's address, e.g. https://hub.example.org")
    .option('--stdin', 'read the API token from stdin (the default when stdin is not a terminal)')
    .addHelpText(
      'after',
      `
The token (from \`piot hub token create --api USER\` on the hub) is checked against the
hub, then saved with the URL in \${XDG_CONFIG_HOME:-~/.config}/piot/hub.yaml, readable by
you alone (0600). $PIOT_HUB and $PIOT_HUB_API_TOKEN override it.

Examples:
  piot hub login --url https://hub.example.org
  printf %s "$TOKEN" | piot hub login --url http://10.0.0.5:8800 --stdin`,
    )
    .action(async (options: { url: string; stdin?: boolean }) => {
      const url = normalizeHubUrl(options.url, '--url');
      const token = (
        options.stdin || !process.stdin.isTTY
          ? withoutFinalNewline(await readStdin())
          : await promptHidden('API token')
      ).trim();
      if (!token)
        throw new UserError('the API token is empty; nothing was written', {
          hint: 'make one on the hub with `piot hub token create --api USER`',
        });
      // A wrong token or URL should fail now, not at the next fleet command.
      await hubClient({ url, token, from: '--url' }).devices();
      const path = hubConfigPath(ctx.env);
      await writeHubConfig(path, { url, token });
      ctx.err(`saved ${url} and your API token in ${path}\n`);
    });
}
