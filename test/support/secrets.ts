import { armor, Encrypter, generateIdentity, identityToRecipient } from 'age-encryption';
import { stringify } from 'yaml';

/** A device with a fresh age identity, as `piot image configure` makes one. */
export async function ageDevice(
  name: string,
): Promise<{ name: string; key: string; recipient: string }> {
  const key = await generateIdentity();
  return { name, key, recipient: await identityToRecipient(key) };
}

/** The text of `.piot/secrets/NAME.yaml` holding value, encrypted to the given devices. */
export async function secretFileText(
  value: string,
  devices: { name: string; recipient: string }[],
  selectors?: string[],
): Promise<string> {
  const encrypter = new Encrypter();
  for (const d of devices) encrypter.addRecipient(d.recipient);
  const sealed = armor.encode(await encrypter.encrypt(value));
  return stringify({
    version: 1,
    ...(selectors ? { devices: selectors } : {}),
    recipients: { devices: Object.fromEntries(devices.map((d) => [d.name, d.recipient])) },
    value: sealed,
  });
}
