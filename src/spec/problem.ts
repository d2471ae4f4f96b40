/** One thing wrong with a file, at a position people can jump to. */
export interface Problem {
  file: string;
  line: number;
  column: number;
  message: string;
  hint?: string | undefined;
}

/** `file:line:column: message` plus an indented hint line. */
export function formatProblem(problem: Problem): string {
  const head = `${problem.file}:${problem.line}:${problem.column}: ${problem.message}`;
  return problem.hint === undefined ? head : `${head}\n  hint: ${problem.hint}`;
}

/** Problems in file order, so output reads top to bottom. */
export function sortProblems(problems: Problem[]): Problem[] {
  return [...problems].sort(
    (a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column,
  );
}
