import { UserError } from '../errors.js';
import { parseDuration } from '../spec/duration.js';
import { hashPassword, hashToken, newSecret } from './secrets.js';
import type { Store } from './store/store.js';

/** Makes a one-time enrolment token (for `hub_token` in provisioning); only its hash is kept. */
export async function createEnrolmentToken(
  store: Store,
  options: { expires?: string; now: number },
): Promise<{ token: string; expiresAt?: number }> {
  let expiresAt: number | undefined;
  if (options.expires !== undefined) {
    const ms = parseDuration(options.expires);
    if (ms === undefined || ms <= 0) {
      throw new UserError(`--expires ${options.expires} is not a duration`, {
        hint: '--expires 7d (or 90m, 12h)',
        exitCode: 2,
      });
    }
    expiresAt = options.now + ms;
  }
  const token = newSecret('piote');
  await store.addEnrolmentToken(hashToken(token), { now: options.now, expiresAt });
  return { token, expiresAt };
}

/** Adds a person who may log in, or sets their password. */
export async function setUserPassword(
  store: Store,
  name: string,
  password: string,
  now: number,
): Promise<void> {
  if (!/^[A-Za-z0-9._@-]{1,100}$/.test(name)) {
    throw new UserError(`${name} is not a user name`, {
      hint: 'letters, digits and . _ @ - only',
      exitCode: 2,
    });
  }
  if (password.length < 8) throw new UserError('the password needs at least 8 characters');
  await store.setUser(name, await hashPassword(password), now);
}

/** Makes an API token for a user (sent as `Authorization: Bearer`); only its hash is kept. */
export async function createApiToken(
  store: Store,
  user: string,
  options: { label: string; now: number },
): Promise<string> {
  if ((await store.getUserPasswordHash(user)) === undefined) {
    throw new UserError(`no user ${user}`, { hint: `add one: piot hub user add ${user}` });
  }
  const token = newSecret('piota');
  await store.addApiToken(hashToken(token), user, options);
  return token;
}
