import { Decrypter, Encrypter, armor } from 'age-encryption';
import type { Recipients } from './selection.js';

/** Encrypts a value to every key in the recipients; the result is age ASCII armor. */
export async function encryptValue(value: string, recipients: Recipients): Promise<string> {
  const keys = new Set([
    ...Object.values(recipients.devices),
    ...Object.values(recipients.operators),
  ]);
  const encrypter = new Encrypter();
  for (const key of [...keys].sort()) encrypter.addRecipient(key);
  return armor.encode(await encrypter.encrypt(value));
}

/** Decrypts age ASCII armor with any of the identities; throws if none of them can. */
export async function decryptValue(armored: string, identities: string[]): Promise<string> {
  const decrypter = new Decrypter();
  for (const identity of identities) decrypter.addIdentity(identity);
  return decrypter.decrypt(armor.decode(armored), 'text');
}
