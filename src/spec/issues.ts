import type { core } from 'zod';
import { schemaAt, type JsonSchema } from './json-schema.js';
import type { Problem } from './problem.js';
import { didYouMean } from './suggest.js';
import { positionOf, type YamlSource } from './yaml-source.js';

/** `services.sensor.restart`, or `(top level)` for the root. */
export function pathName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path
    .map((step, i) =>
      typeof step === 'number' ? `[${step}]` : i === 0 ? String(step) : `.${String(step)}`,
    )
    .join('');
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'binary data';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return JSON.stringify(value) ?? 'nothing';
}

const TYPE_NAMES: Record<string, string> = {
  string: 'text',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
};

function exampleHint(node: JsonSchema | undefined): string | undefined {
  const example = node?.examples?.[0];
  if (example === undefined) return node?.description;
  return `for example: ${JSON.stringify(example)}`;
}

/** Turns one schema issue into problems at the right places in the file. */
export function issueToProblems(
  issue: core.$ZodIssue,
  source: YamlSource,
  schema: JsonSchema,
): Problem[] {
  const where = pathName(issue.path);
  const make = (
    path: readonly PropertyKey[],
    message: string,
    hint?: string,
    key = false,
  ): Problem => ({
    file: source.file,
    ...positionOf(source, path, { key }),
    message,
    hint,
  });
  const node = schemaAt(schema, issue.path);
  const missing = (path: readonly PropertyKey[]) => {
    const key = String(path[path.length - 1]);
    const parent = pathName(path.slice(0, -1));
    return [
      make(
        path.slice(0, -1),
        `${parent} is missing required key "${key}"`,
        exampleHint(node),
        true,
      ),
    ];
  };
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = Object.keys(schemaAt(schema, issue.path)?.properties ?? {});
      return issue.keys.map((key) =>
        make(
          [...issue.path, key],
          `unknown key "${key}" in ${where}`,
          didYouMean(key, allowed),
          true,
        ),
      );
    }
    case 'invalid_type': {
      if (issue.input === undefined) return missing(issue.path);
      const expected = TYPE_NAMES[issue.expected] ?? issue.expected;
      return [
        make(
          issue.path,
          `${where} must be ${expected}, not ${describe(issue.input)}`,
          exampleHint(node),
        ),
      ];
    }
    case 'invalid_value': {
      if (issue.input === undefined) return missing(issue.path);
      const options = issue.values.map((v) => String(v));
      if (options.length === 1) {
        return [make(issue.path, `${where} ${issue.message}, not ${describe(issue.input)}`)];
      }
      return [
        make(
          issue.path,
          `${where} cannot be ${describe(issue.input)}`,
          didYouMean(typeof issue.input === 'string' ? issue.input : '', options) ??
            `use one of ${options.join(', ')}`,
        ),
      ];
    }
    case 'invalid_format':
      return [
        make(issue.path, `${where}: ${describe(issue.input)} ${issue.message}`, exampleHint(node)),
      ];
    case 'too_small':
    case 'too_big': {
      const limit = String(issue.code === 'too_small' ? issue.minimum : issue.maximum);
      const detail = issue.message.startsWith('Too')
        ? `${issue.code === 'too_small' ? 'at least' : 'at most'} ${limit}`
        : issue.message;
      return [
        make(
          issue.path,
          `${where} ${describe(issue.input)} is out of range (${detail})`,
          exampleHint(node),
        ),
      ];
    }
    case 'invalid_key': {
      const inner = issue.issues[0]?.message ?? 'is not allowed';
      return [
        make(
          issue.path,
          `${where}: "${String(issue.path[issue.path.length - 1])}" ${inner}`,
          undefined,
          true,
        ),
      ];
    }
    case 'invalid_union':
      return [make(issue.path, `${where} cannot be ${describe(issue.input)}`, exampleHint(node))];
    case 'custom': {
      const hint = (issue.params as { hint?: string } | undefined)?.hint;
      return [make(issue.path, `${where}: ${issue.message}`, hint)];
    }
    default:
      return [make(issue.path, `${where}: ${issue.message}`, exampleHint(node))];
  }
}
