import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEnrolmentToken } from '../../src/hub/admin.js';
import type { HubDeps } from '../../src/hub/app.js';
import { startHub, type RunningHub } from '../../src/hub/serve.js';
import { openStore } from '../../src/hub/store/open.js';
import type { Store } from '../../src/hub/store/store.js';
import type { VirtualPi } from '../../src/vm/machine.js';
import type { GuestForward } from '../../src/vm/qemu-args.js';

/** Where the guest finds the hub (forwarded to the hub on the host's loopback). */
export const HUB_HOST = '10.0.2.103';

/** A hub on the host's loopback (SQLite in a temp dir), and what a device needs to join it. */
export interface TestHub {
  store: Store;
  hub: RunningHub;
  /** A one-time enrolment token. */
  token: string;
  /** A device's Ed25519 key (PKCS#8 PEM). */
  signingKey: string;
  /** The forward that lets the guest reach the hub at http://HUB_HOST. */
  forward: GuestForward;
  close(): Promise<void>;
}

export async function startTestHub(deps: (store: Store) => Partial<HubDeps> = () => ({})) {
  const data = await mkdtemp(join(tmpdir(), 'piot-test-hub-'));
  const store = await openStore({ data });
  const hub = await startHub({ store, ...deps(store) }, { hostname: '127.0.0.1', port: 0 });
  const { token } = await createEnrolmentToken(store, { now: Date.now() });
  const signingKey = generateKeyPairSync('ed25519')
    .privateKey.export({ format: 'pem', type: 'pkcs8' })
    .toString();
  const forward: GuestForward = {
    guestAddress: HUB_HOST,
    guestPort: 80,
    hostPort: Number(new URL(hub.url).port),
    connections: 'many',
  };
  const testHub: TestHub = {
    store,
    hub,
    token,
    signingKey,
    forward,
    async close() {
      await hub.close();
      await store.close();
      await rm(data, { recursive: true, force: true });
    },
  };
  return testHub;
}

/** Gives the guest the hub's enrolment token and its signing key, as first boot would. */
export async function installHubIdentity(vm: VirtualPi, hub: TestHub): Promise<void> {
  await vm.sh(
    [
      'sudo install -d -m 0700 /etc/piot/identity',
      `printf '%s\\n' '${hub.token}' | sudo install -m 0600 /dev/stdin /etc/piot/identity/hub-token`,
      'sudo install -m 0600 /dev/stdin /etc/piot/identity/signing.key',
    ].join(' && '),
    { input: hub.signingKey },
  );
}
