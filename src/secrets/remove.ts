import { secretFilePath } from '../spec/secret-file.js';
import {
  checkSecretName,
  deleteSecret,
  noSuchSecret,
  openSecretsRepo,
  readSecret,
} from './repo.js';

/** What `piot secrets rm` did. */
export interface RemoveSecretResult {
  name: string;
  repo: string;
  /** The deleted file, relative to the repository. */
  file: string;
  notes: string[];
}

/**
 * Deletes `.piot/secrets/NAME.yaml` (an invalid file too); warns when .piot.yaml still
 * lists the secret, since devices would then deploy without it.
 */
export async function removeSecret(options: {
  cwd: string;
  name: string;
}): Promise<RemoveSecretResult> {
  checkSecretName(options.name);
  const repo = await openSecretsRepo(options.cwd);
  if (!(await readSecret(repo, options.name))) throw await noSuchSecret(repo, options.name);
  await deleteSecret(repo, options.name);
  const notes = [
    'the value stays in the git history: change it where it is issued if it must not be used any more',
  ];
  if (repo.listed?.includes(options.name)) {
    notes.unshift(
      `.piot.yaml still lists ${options.name} in "secrets:": remove it there too, or devices cannot deploy the next release`,
    );
  }
  return { name: options.name, repo: repo.root, file: secretFilePath(options.name), notes };
}
