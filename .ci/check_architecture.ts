/**
 * Architecture checks over the repository, run by `deno task arch` (part of `deno task ok`):
 *
 * 1. no import cycle between the folders of `src/` (each file directly in `src/` is its own node;
 *    `import type` counts, since a type still ties one folder to another);
 * 2. no file in `src/` over 400 lines, no class over 300 lines;
 * 3. `tests/` mirrors `src/` file for file (`src/a/b.ts` ↔ `tests/a/b_test.ts`);
 * 4. no reference to documents outside the repository.
 *
 * Known violations are listed in `.ci/architecture_allow.txt`, one finding key a line, as the
 * report prints it; a finding not on the list fails the run, so deleting a line makes that check
 * strict for it. `--strict` ignores the list, `--all` prints every finding with its details.
 * Dependency-free: a small scanner blanks comments, strings, template text and regex literals, so
 * imports and braces are read from code only.
 */

export const MAX_FILE_LINES = 400;
export const MAX_CLASS_LINES = 300;
/** Files of `src/` that need no test of their own: folder-private helpers and entry points. */
export const MIRROR_EXEMPT = [/(^|\/)_[^/]*\.ts$/, /(^|\/)mod\.ts$/];
/** A value export: a file that only exports types needs no test. */
const VALUE_EXPORT = /(^|\n)\s*export\s+(?!type\b|interface\b|declare\b)/g;
/** A value export without behaviour (a symbol or a number), which needs no test either. */
const DATA_EXPORT = /^\s*export\s+const\s+\w+\s*(?::[^=]+)?=\s*(?:Symbol\([^)]*\)|-?\d[\d_]*);/;

/** Whether `code` (masked) exports anything with behaviour: a function, class or computed value. */
function exportsBehaviour(code: string): boolean {
  for (const match of code.matchAll(VALUE_EXPORT)) {
    const start = match.index! + match[0].length - match[0].trimStart().length;
    const line = code.slice(start, code.indexOf("\n", start) + 1 || undefined);
    if (!DATA_EXPORT.test(line)) return true;
  }
  return false;
}
/** Files of `tests/` that mirror nothing: helpers, fixtures and cross-cutting suites. */
export const TESTS_EXEMPT = [/(^|\/)_[^/]*\.ts$/, /(^|\/)fixtures\//, /^tests\/e2e\//];
/** Where no outside reference may appear, and what counts as one (`§` alone: a section elsewhere). */
export const DOC_ROOTS = ["src", "tests", "docs", "examples", "bench", "README.md"];
export const OUTSIDE = [
  /\.\.\/shared/i,
  /(contract|deno-platform|reference) §/i,
  /the seeds/i,
  /§/,
];

/** One violation: `key` is what the allow-list names, `details` say where and why. */
export type Finding = { key: string; details: string[] };

/** The source with comments, string contents, template text and regex bodies blanked (same length). */
export function mask(src: string): string {
  const out = src.split("");
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
  };
  const templates: number[] = []; // brace depth at each open `${`
  let depth = 0;
  let i = 0;
  while (i < src.length) {
    const c = src[i]!, n = src[i + 1];
    let end = i + 1;
    if (c === "/" && n === "/") {
      end = src.indexOf("\n", i) < 0 ? src.length : src.indexOf("\n", i);
      blank(i, end);
    } else if (c === "/" && n === "*") {
      end = src.indexOf("*/", i + 2) < 0 ? src.length : src.indexOf("*/", i + 2) + 2;
      blank(i, end);
    } else if (c === '"' || c === "'") {
      while (end < src.length && src[end] !== c && src[end] !== "\n") {
        end += src[end] === "\\" ? 2 : 1;
      }
      blank(i + 1, end++);
    } else if (c === "`" || (c === "}" && templates.at(-1) === depth)) {
      if (c === "}") templates.pop();
      while (end < src.length && src[end] !== "`" && !(src[end] === "$" && src[end + 1] === "{")) {
        end += src[end] === "\\" ? 2 : 1;
      }
      blank(i + 1, end);
      if (src[end] === "$") templates.push(depth), end++;
      end++;
    } else if (c === "/" && regexMayStart(out, i)) {
      let inClass = false;
      while (end < src.length && src[end] !== "\n" && (inClass || src[end] !== "/")) {
        if (src[end] === "[") inClass = true;
        if (src[end] === "]") inClass = false;
        end += src[end] === "\\" ? 2 : 1;
      }
      blank(i + 1, end++);
    } else if (c === "{") depth++;
    else if (c === "}") depth--;
    i = end;
  }
  return out.join("");
}

const BEFORE_REGEX =
  /\b(return|typeof|case|do|else|in|of|new|delete|void|throw|instanceof|yield|await)$/;

function regexMayStart(out: string[], at: number): boolean {
  let k = at - 1;
  while (k >= 0 && /\s/.test(out[k]!)) k--;
  if (k < 0) return true;
  if (/[\w$]/.test(out[k]!)) {
    return BEFORE_REGEX.test(out.slice(Math.max(0, k - 11), k + 1).join(""));
  }
  return !/[)\]}"'`]/.test(out[k]!);
}

const lineAt = (text: string, index: number) => text.slice(0, index).split("\n").length;
const lineCount = (text: string) => text.split("\n").length - (text.endsWith("\n") ? 1 : 0);

/** Static imports and re-exports of a module: specifier, line, whether it is `import type`. */
export function importsOf(src: string): { spec: string; line: number; typeOnly: boolean }[] {
  const code = mask(src);
  const re = /(?:^|[;}\n])\s*(?:import|export)\b\s*(type\s)?(?:[^;"'`=()]*?\bfrom\s*)?(["'])/g;
  return [...code.matchAll(re)].map((m) => {
    const quote = m.index + m[0].length - 1;
    return {
      spec: src.slice(quote + 1, src.indexOf(m[2]!, quote + 1)),
      line: lineAt(src, quote),
      typeOnly: m[1] !== undefined,
    };
  });
}

/** Each class with the lines from its `class X` line to its closing brace. */
export function classesOf(src: string): { name: string; line: number; lines: number }[] {
  const code = mask(src);
  return [...code.matchAll(/\bclass\s+([A-Za-z_$][\w$]*)[^{;]*\{/g)].map((m) => {
    let depth = 0, k = m.index + m[0].length - 1;
    for (; k < code.length; k++) {
      if (code[k] === "{") depth++;
      if (code[k] === "}" && --depth === 0) break;
    }
    const line = lineAt(code, m.index);
    return { name: m[1]!, line, lines: lineAt(code, k) - line + 1 };
  });
}

/** Every elementary cycle of a directed graph, each once, starting at its smallest node. */
export function findCycles(graph: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = [];
  for (const start of [...graph.keys()].sort()) {
    const path = [start];
    const visit = (node: string) => {
      for (const next of [...(graph.get(node) ?? [])].sort()) {
        if (next === start) cycles.push([...path, start]);
        else if (next > start && !path.includes(next)) {
          path.push(next);
          visit(next);
          path.pop();
        }
      }
    };
    visit(start);
  }
  return cycles;
}

/** The node of a `src/` file: its top folder, or the file itself when it sits directly in `src/`. */
export const nodeOf = (path: string) => path.split("/")[1]!;

function checkCycles(files: Map<string, string>): Finding[] {
  const graph = new Map<string, Set<string>>();
  const edges = new Map<string, string[]>(); // "a → b" → file-level imports
  for (const [from, text] of files) {
    if (!from.startsWith("src/") || !from.endsWith(".ts")) continue;
    for (const { spec, line, typeOnly } of importsOf(text)) {
      if (!spec.startsWith(".")) continue;
      const to = new URL(spec, `file:///${from}`).pathname.slice(1);
      const [a, b] = [nodeOf(from), nodeOf(to)];
      if (!to.startsWith("src/") || a === b) continue;
      if (!graph.has(a)) graph.set(a, new Set());
      graph.get(a)!.add(b);
      const list = edges.get(`${a} → ${b}`) ?? [];
      edges.set(`${a} → ${b}`, [...list, `${from}:${line} → ${to}${typeOnly ? " (type)" : ""}`]);
    }
  }
  return findCycles(graph).map((cycle) => ({
    key: `cycle ${cycle.join(" → ")}`,
    details: cycle.slice(1).flatMap((to, k) => {
      const edge = `${cycle[k]} → ${to}`;
      return [`${edge}:`, ...edges.get(edge)!.map((e) => `  ${e}`)];
    }),
  }));
}

function checkSizes(files: Map<string, string>): Finding[] {
  const found: Finding[] = [];
  for (const [path, text] of files) {
    if (!path.startsWith("src/") || !path.endsWith(".ts")) continue;
    const lines = lineCount(text);
    if (lines > MAX_FILE_LINES) {
      found.push({ key: `file ${path}`, details: [`${lines} lines (max ${MAX_FILE_LINES})`] });
    }
    for (const c of classesOf(text)) {
      if (c.lines <= MAX_CLASS_LINES) continue;
      const detail = `${path}:${c.line}: ${c.lines} lines (max ${MAX_CLASS_LINES})`;
      found.push({ key: `class ${path} ${c.name}`, details: [detail] });
    }
  }
  return found;
}

function checkMirror(files: Map<string, string>): Finding[] {
  const found: Finding[] = [];
  for (const [path, text] of files) {
    if (!path.endsWith(".ts")) continue;
    const rel = path.slice(path.indexOf("/") + 1);
    if (path.startsWith("src/") && !MIRROR_EXEMPT.some((re) => re.test(path))) {
      const test = `tests/${rel.replace(/\.ts$/, "_test.ts")}`;
      if (exportsBehaviour(mask(text)) && !files.has(test)) {
        found.push({ key: `mirror ${path}`, details: [`exports values; no ${test}`] });
      }
    }
    if (path.startsWith("tests/") && !TESTS_EXEMPT.some((re) => re.test(path))) {
      const source = `src/${rel.replace(/_test\.ts$/, ".ts")}`;
      // A plain-JavaScript module (the browser client) is mirrored like a .ts one.
      const mirrored = files.has(source) || files.has(source.replace(/\.ts$/, ".js"));
      if (!path.endsWith("_test.ts") || !mirrored) {
        const why = path.endsWith("_test.ts") ? `${source} does not exist` : "not a *_test.ts";
        found.push({ key: `mirror ${path}`, details: [`${why}: mirror a src/ file or move it`] });
      }
    }
  }
  return found;
}

function checkOutside(files: Map<string, string>): Finding[] {
  const found: Finding[] = [];
  for (const [path, text] of files) {
    if (!DOC_ROOTS.some((root) => path === root || path.startsWith(`${root}/`))) continue;
    const details = text.split("\n").flatMap((line, k) => {
      const at = OUTSIDE.map((re) => line.search(re)).find((i) => i >= 0);
      if (at === undefined) return [];
      return [`${path}:${k + 1}: …${line.slice(Math.max(0, at - 50), at + 40).trim()}…`];
    });
    if (details.length > 0) found.push({ key: `outside ${path}`, details });
  }
  return found;
}

/** A repository path named in prose: `src/…`, `tests/…`, `examples/…`, `bench/…`, `docs/…`. */
const NAMED_PATH = /(?<![\w./-])((?:src|tests|examples|bench|docs)\/[\w./-]*\w\.(?:ts|md))\b/g;

/** Paths that the README and `docs/` name must exist (a renamed file leaves no stale pointer). */
function checkNamedPaths(files: Map<string, string>): Finding[] {
  const found: Finding[] = [];
  for (const [path, text] of files) {
    if (path !== "README.md" && !path.startsWith("docs/")) continue;
    const details = text.split("\n").flatMap((line, k) =>
      [...line.matchAll(NAMED_PATH)].filter((m) => !files.has(m[1]!))
        .map((m) => `${path}:${k + 1}: ${m[1]} does not exist`)
    );
    if (details.length > 0) found.push({ key: `stale ${path}`, details });
  }
  return found;
}

/** All findings over a map of repository-relative path → text. */
export function check(files: Map<string, string>): Finding[] {
  const sorted = new Map([...files].sort(([a], [b]) => a < b ? -1 : 1));
  return [checkCycles, checkSizes, checkMirror, checkOutside, checkNamedPaths].flatMap((f) =>
    f(sorted)
  );
}

/** Whether the allow-list covers a key: exactly, or by `<kind> *`. */
export const allowed = (list: Set<string>, key: string) =>
  list.has(key) || list.has(`${key.split(" ")[0]} *`);

async function readTree(root: string, files: Map<string, string>): Promise<void> {
  const info = await Deno.stat(root).catch(() => null);
  if (info?.isFile) files.set(root, await Deno.readTextFile(root));
  if (!info?.isDirectory) return;
  for await (const entry of Deno.readDir(root)) await readTree(`${root}/${entry.name}`, files);
}

if (import.meta.main) {
  Deno.chdir(new URL("..", import.meta.url));
  const files = new Map<string, string>();
  for (const root of DOC_ROOTS) await readTree(root, files);
  const allowFile = ".ci/architecture_allow.txt";
  const list = new Set(
    Deno.args.includes("--strict") ? [] : (await Deno.readTextFile(allowFile))
      .split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")),
  );
  const findings = check(files);
  const failing = findings.filter((f) => !allowed(list, f.key));
  for (const f of Deno.args.includes("--all") ? findings : failing) {
    console.log(`${allowed(list, f.key) ? "allowed" : "FAIL"}: ${f.key}`);
    for (const d of f.details) console.log(`    ${d}`);
  }
  for (const entry of list) {
    const kind = entry.endsWith(" *") ? entry.slice(0, -1) : null;
    if (!findings.some((f) => kind ? f.key.startsWith(kind) : f.key === entry)) {
      console.log(`fixed, remove from ${allowFile}: ${entry}`);
    }
  }
  const known = `${findings.length - failing.length} known (${allowFile})`;
  console.log(`architecture: ${failing.length} failing, ${known}; --all lists all`);
  if (failing.length > 0) Deno.exit(1);
}
