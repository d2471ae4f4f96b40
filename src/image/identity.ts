import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';

/** A device's keys: private halves go to the device only, public halves to .piot/fleet.yaml. */
export interface DeviceIdentity {
  /** AGE-SECRET-KEY-1… : decrypts the secrets encrypted to this device. */
  ageKey: string;
  /** age1… */
  ageRecipient: string;
  /** Ed25519 private key, PKCS#8 PEM: authenticates the device to the hub. */
  signingKey: string;
  /** `ed25519:` and the base64 of the raw 32-byte public key. */
  signingPublic: string;
}

/** The public half of an Ed25519 private key in PioT's fleet.yaml form. */
export function signingPublicKey(privatePem: string): string {
  const jwk = createPublicKey(createPrivateKey(privatePem)).export({ format: 'jwk' });
  return `ed25519:${Buffer.from(jwk.x!, 'base64url').toString('base64')}`;
}

/**
 * The identity already written into an image when there is one (so configuring twice keeps
 * the device's keys), else a new one.
 */
export async function deviceIdentity(existing?: {
  ageKey?: string;
  signingKey?: string;
}): Promise<DeviceIdentity> {
  // Loaded here, not at the top: the agent shares this module for signingPublicKey alone.
  const { generateIdentity, identityToRecipient } = await import('age-encryption');
  const ageKey = existing?.ageKey?.trim().startsWith('AGE-SECRET-KEY-1')
    ? existing.ageKey.trim()
    : await generateIdentity();
  let signingKey = existing?.signingKey;
  try {
    if (signingKey) signingPublicKey(signingKey);
  } catch {
    signingKey = undefined;
  }
  signingKey ??= generateKeyPairSync('ed25519')
    .privateKey.export({ format: 'pem', type: 'pkcs8' })
    .toString();
  return {
    ageKey,
    ageRecipient: await identityToRecipient(ageKey),
    signingKey,
    signingPublic: signingPublicKey(signingKey),
  };
}
