import { parse } from 'acorn';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');
const bundle = join(root, 'dist/piot-agent.mjs');

describe('agent bundle', () => {
  it('is one file that imports only Node built-ins and no native addon', () => {
    const meta = JSON.parse(readFileSync(join(root, 'dist/piot-agent.meta.json'), 'utf8')) as {
      inputs: Record<string, unknown>;
      outputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
    };
    const imports = meta.outputs['dist/piot-agent.mjs']!.imports.map((i) => i.path);
    const builtins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.filter((name) => !builtins.has(name))).toEqual([]);
    expect(Object.keys(meta.inputs).filter((input) => input.endsWith('.node'))).toEqual([]);
  });

  it('uses only syntax Node 18 understands (ES2022)', () => {
    const text = readFileSync(bundle, 'utf8');
    expect(() =>
      parse(text, { ecmaVersion: 2022, sourceType: 'module', allowHashBang: true }),
    ).not.toThrow();
    // The check can fail: ES2024 syntax (regexp v flag) is refused at this level.
    expect(() =>
      parse('const r = /[\\p{L}--[a-z]]/v;', { ecmaVersion: 2022, sourceType: 'module' }),
    ).toThrow();
  });

  it('is Latin-1 text, which V8 keeps at one byte a character', () => {
    const text = readFileSync(bundle, 'utf8');
    const wide = [...new Set([...text].filter((c) => c.codePointAt(0)! > 0xff))];
    expect(wide).toEqual([]);
  });

  it.skipIf(existsSync('/etc/piot/device.yaml'))(
    'runs the agent as its unit does, and names a missing device file',
    () => {
      for (const args of [['agent'], ['agent', '--config', '/etc/piot/device.yaml']]) {
        const result = spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8' });
        expect(result.stderr).toBe(
          'error: device file /etc/piot/device.yaml does not exist\nhint: check the path\n',
        );
        expect(result.status).toBe(1);
      }
    },
  );

  it('runs and validates a file', () => {
    const result = spawnSync(process.execPath, [bundle, 'validate', 'examples/sensor'], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(result.stdout).toMatch(/app sensor is valid/);
    expect(result.status).toBe(0);
  });
});
