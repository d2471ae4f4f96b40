import { z } from 'zod';
import { NAME_PATTERN, piotYamlSchema } from './schema.js';

/** A JSON Schema node, as much of it as PioT reads. */
export interface JsonSchema {
  $schema?: string;
  $id?: string;
  title?: string;
  description?: string;
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: JsonSchema | boolean;
  propertyNames?: JsonSchema;
  required?: string[];
  items?: JsonSchema;
  enum?: unknown[];
  const?: unknown;
  pattern?: string;
  examples?: unknown[];
  anyOf?: JsonSchema[];
  [key: string]: unknown;
}

/** Where editors find the schema; `piot init` writes it into the modeline. */
export const SCHEMA_URL = 'https://unpkg.com/piot/schema/piot-yaml.json';

/** JSON Schema (draft 2020-12) of `.piot.yaml`, for editors and other validators. */
export function piotYamlJsonSchema(): JsonSchema {
  const schema = z.toJSONSchema(piotYamlSchema, {
    io: 'input',
    unrepresentable: 'any',
  }) as JsonSchema;
  // Names are checked outside the record so that a bad name does not hide problems in its body.
  for (const section of ['services', 'jobs']) {
    const node = schema.properties?.[section];
    if (node) node.propertyNames = { type: 'string', pattern: NAME_PATTERN };
  }
  return { ...schema, $id: SCHEMA_URL };
}

/** The schema node describing the value at `path` (record names and list indexes step through). */
export function schemaAt(root: JsonSchema, path: readonly PropertyKey[]): JsonSchema | undefined {
  let node: JsonSchema | undefined = root;
  for (const step of path) {
    if (!node) return undefined;
    if (typeof step === 'number') node = node.items;
    else if (node.properties?.[String(step)]) node = node.properties[String(step)];
    else if (typeof node.additionalProperties === 'object') node = node.additionalProperties;
    else return undefined;
  }
  return node;
}
