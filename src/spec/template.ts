/** Where `piot init` puts the JSON Schema that the `.piot.yaml` modeline points to. */
export const SCHEMA_PATH = '.piot/piot-yaml.schema.json';

/** A commented starting `.piot.yaml` for `piot init`. */
export function initTemplate(app: string): string {
  return `# yaml-language-server: $schema=${SCHEMA_PATH}
# PioT application. Reference: \`npx piot schema --markdown\` (docs/piot-yaml.md in PioT).
# Check it with \`npx piot validate\`.
version: 1
app: ${app}

# setup:                        # runs on the device when it changes between releases
#   apt: [python3-serial]       # Debian packages
#   run: [npm ci --omit=dev]    # commands, in the release directory

env:
  LOG_LEVEL: info

# secrets: [API_TOKEN]          # set with \`piot secrets set API_TOKEN\`

services:
  main:
    run: ./start.sh             # your long-running program
    restart: always             # always | on-failure | never
    # devices: [tag:sensors]    # default: every device
    # health:
    #   http: http://127.0.0.1:8080/health
    #   timeout: 60s

# jobs:
#   backup:
#     run: ./backup.sh
#     schedule: "0 3 * * *"     # cron or systemd calendar ("daily")
#     timeout: 10m
#     retries: 3
#   migrate:
#     run: ./migrate.sh
#     once: release             # before each new release starts

deploy:
  health_timeout: 60s
  keep_releases: 3
`;
}

/** A GitHub Actions workflow that validates `.piot.yaml` on every push. */
export const GITHUB_WORKFLOW = `name: piot
on: [push, pull_request]
jobs:
  validate:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-node@v4
        with:
          node-version: 20
      - run: npx --yes piot validate
`;

/** A lowercase app name from a directory name, or "app". */
export function appNameFrom(dirName: string): string {
  const name = dirName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+$/, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return name || 'app';
}
