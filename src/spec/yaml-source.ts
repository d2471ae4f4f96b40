import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit } from 'yaml';
import type { Document, Node, Pair } from 'yaml';
import type { Problem } from './problem.js';

/** Files larger than this are refused before parsing. */
export const MAX_FILE_BYTES = 1024 * 1024;
/** Aliases beyond this count are treated as an expansion attack ("billion laughs"). */
const MAX_ALIASES = 100;

/** A YAML file parsed far enough to point at positions in it. */
export interface YamlSource {
  file: string;
  doc: Document.Parsed;
  lines: LineCounter;
  /** The plain data, or undefined if the file could not be read as YAML. */
  data: unknown;
}

/** Reads bytes as YAML; every syntax problem is returned, and `source` only if data could be had. */
export function readYaml(
  bytes: Uint8Array,
  file: string,
): { source?: YamlSource; problems: Problem[] } {
  const at = (line: number, column: number, message: string, hint?: string): Problem => ({
    file,
    line,
    column,
    message,
    hint,
  });
  if (bytes.length > MAX_FILE_BYTES) {
    return {
      problems: [
        at(
          1,
          1,
          `file is ${bytes.length} bytes, more than the 1 MiB allowed`,
          'is this the right file?',
        ),
      ],
    };
  }
  const nul = bytes.indexOf(0);
  let text: string;
  try {
    if (nul >= 0) throw new Error('NUL byte');
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return {
      problems: [at(1, 1, 'file is not UTF-8 text (binary data?)', 'save it as plain UTF-8 YAML')],
    };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number) => {
    const { line, col } = lines.linePos(offset);
    return { line: Math.max(line, 1), column: Math.max(col, 1) };
  };
  const problems: Problem[] = doc.errors.map((error) => {
    const { line, column } = pos(error.pos[0]);
    const message = error.message
      .split('\n')[0]!
      .replace(/^Map keys must be unique$/, 'duplicate key');
    return at(line, column, `YAML: ${message}`, yamlHint(error.code));
  });
  for (const warning of doc.warnings) {
    const { line, column } = pos(warning.pos[0]);
    problems.push(at(line, column, `YAML: ${warning.message.split('\n')[0]}`, 'remove the tag'));
  }
  if (problems.length > 0) return { problems };
  if (doc.contents === null) {
    return {
      problems: [
        at(1, 1, 'file is empty', 'start with `version: 1`; `piot init` writes an example'),
      ],
    };
  }
  let aliases = 0;
  visit(doc, { Alias: () => void aliases++ });
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
    return {
      problems: [
        at(
          1,
          1,
          `YAML aliases expand too much (${aliases} aliases)`,
          'write the values out instead of nesting aliases',
        ),
      ],
    };
  }
  return { source: { file, doc, lines, data }, problems: [] };
}

function yamlHint(code: string): string | undefined {
  switch (code) {
    case 'TAB_AS_INDENT':
      return 'indent with spaces';
    case 'DUPLICATE_KEY':
      return 'each key may appear once in a mapping';
    case 'MULTIPLE_DOCS':
      return 'keep one document (remove the extra `---`)';
    case 'BAD_INDENT':
    case 'MISSING_CHAR':
    case 'UNEXPECTED_TOKEN':
      return 'check the indentation and closing brackets or quotes';
    default:
      return undefined;
  }
}

/**
 * The position of the value at `path` (or of its key with `key: true`). A missing
 * path points at the deepest mapping that exists, where the key should be.
 */
export function positionOf(
  source: YamlSource,
  path: readonly PropertyKey[],
  options: { key?: boolean } = {},
): { line: number; column: number } {
  let node: Node | null | undefined = source.doc.contents;
  let found: Node | null | undefined = node;
  for (let i = 0; i < path.length && node; i++) {
    if (isAlias(node)) node = node.resolve(source.doc);
    const step = path[i];
    let next: Node | null | undefined;
    if (isMap(node)) {
      const pair: Pair<unknown, unknown> | undefined = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(step),
      );
      if (pair) {
        const keyNode = pair.key as Node;
        next =
          i === path.length - 1 && options.key ? keyNode : ((pair.value as Node | null) ?? keyNode);
      }
    } else if (isSeq(node) && typeof step === 'number') {
      next = node.items[step] as Node | undefined;
    }
    if (!next) break;
    node = next;
    found = next;
  }
  const offset = found?.range?.[0] ?? 0;
  const { line, col } = source.lines.linePos(offset);
  return { line: Math.max(line, 1), column: Math.max(col, 1) };
}
