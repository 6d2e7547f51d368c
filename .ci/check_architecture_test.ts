// The architecture checker on in-memory graphs and files: it must find what it claims to find.
import { deepStrictEqual as equal } from "node:assert/strict";
import { allowed, check, classesOf, findCycles, importsOf } from "./check_architecture.ts";

const graph = (edges: Record<string, string[]>) =>
  new Map(Object.entries(edges).map(([from, to]) => [from, new Set(to)]));
const keys = (files: Record<string, string>) =>
  check(new Map(Object.entries(files))).map((f) => f.key);

Deno.test("findCycles lists every elementary cycle once, from its smallest node", () => {
  const cycles = findCycles(graph({ b: ["a", "c"], a: ["b"], c: ["a", "d"], d: [] }));
  equal(cycles, [["a", "b", "a"], ["a", "b", "c", "a"]]);
});

Deno.test("findCycles finds nothing in a graph without cycles", () => {
  equal(findCycles(graph({ a: ["b", "c"], b: ["c"], c: [] })), []);
});

Deno.test("a cycle between folders names each edge with the imports that create it", () => {
  const findings = check(
    new Map([
      ["src/a/x.ts", 'import type { Y } from "../b/y.ts";\nexport const x = 1;\n'],
      ["src/b/y.ts", '\nimport { x } from "../a/x.ts";\nexport type Y = typeof x;\n'],
      ["tests/a/x_test.ts", ""],
    ]),
  );
  equal(findings[0], {
    key: "cycle a → b → a",
    details: [
      "a → b:",
      "  src/a/x.ts:1 → src/b/y.ts (type)",
      "b → a:",
      "  src/b/y.ts:2 → src/a/x.ts",
    ],
  });
  equal(findings.length, 1);
});

Deno.test("a file directly in src/ is a leaf node, and imports inside one folder are no edge", () => {
  equal(
    keys({
      "src/clock.ts": "export type Clock = () => number;\n",
      "src/a/x.ts": 'import type { Clock } from "../clock.ts";\nimport "./z.ts";\n',
      "src/a/z.ts": 'import "./x.ts";\n',
      "src/b/y.ts": 'import type { Clock } from "../clock.ts";\nimport "../a/x.ts";\n',
    }),
    [],
  );
});

Deno.test("importsOf reads static imports and re-exports, not comments, strings or import()", () => {
  const src = [
    "// import { no } from './comment.ts';",
    'import {\n  a,\n  b,\n} from "./multi.ts";',
    "import type { T } from './type.ts';",
    'export * from "./star.ts";',
    'export type { U } from "./type_reexport.ts";',
    'import "./side_effect.ts";',
    "const s = \"import x from './string.ts'\";",
    'const m = await import("./dynamic.ts");',
  ].join("\n");
  equal(importsOf(src), [
    { spec: "./multi.ts", line: 5, typeOnly: false },
    { spec: "./type.ts", line: 6, typeOnly: true },
    { spec: "./star.ts", line: 7, typeOnly: false },
    { spec: "./type_reexport.ts", line: 8, typeOnly: true },
    { spec: "./side_effect.ts", line: 9, typeOnly: false },
  ]);
});

Deno.test("classesOf counts to the closing brace past braces in strings, templates, regexes", () => {
  const src = [
    "/** class Fake { */",
    "export class Real {",
    '  a = "}";',
    "  b = `${{ c: '}' }.c} }`;",
    "  d = /[}]\\/}/g;",
    "  e = 4 / 2 / 1; // }",
    "}",
    "class Next {}",
  ].join("\n");
  equal(classesOf(src), [{ name: "Real", line: 2, lines: 6 }, { name: "Next", line: 8, lines: 1 }]);
});

Deno.test("files over 400 lines and classes over 300 lines are findings", () => {
  const big = `export class Big {\n${"  x = 1;\n".repeat(300)}}\n${"\n".repeat(99)}`;
  equal(keys({ "src/big.ts": big, "tests/big_test.ts": "" }), [
    "file src/big.ts",
    "class src/big.ts Big",
  ]);
  equal(keys({ "src/ok.ts": big.slice(0, -1), "tests/ok_test.ts": "" }), ["class src/ok.ts Big"]);
});

Deno.test("tests mirror src: value exports need a test, and a test needs its source", () => {
  equal(
    keys({
      "src/a/x.ts": "export function x() {}\n",
      "src/a/symbols.ts":
        'export const S: unique symbol = Symbol("s");\nexport const N = 1;\nexport interface I {}\n',
      "src/a/computed.ts": "export const N = 1;\nexport const M = compute();\n",
      "src/a/types.ts": "export interface T {}\nexport type U = T;\n",
      "src/a/_private.ts": "export const p = 1;\n",
      "src/testing/mod.ts": 'export * from "./x.ts";\n',
      "tests/_helpers.ts": "",
      "tests/a/fixtures/server.ts": "",
      "tests/e2e/soak_test.ts": "",
      "tests/a/gone_test.ts": "",
      "tests/a/loose.ts": "",
    }),
    [
      "mirror src/a/computed.ts",
      "mirror src/a/x.ts",
      "mirror tests/a/gone_test.ts",
      "mirror tests/a/loose.ts",
    ],
  );
});

Deno.test("references to documents outside the repository are findings, with file and line", () => {
  const findings = check(
    new Map([
      ["docs/a.md", "fine\nsee ../shared/x.md\n"],
      ["README.md", "As THE SEEDS say\n"],
      ["src/a.ts", "// (deno-platform\n// §1.7)\n"],
      ["tests/a_test.ts", "// Contract §2\n"],
      ["bench/run.sh", "ok\n"],
      [".ci/other.ts", "contract §1\n"],
    ]),
  );
  equal(findings.map((f) => [f.key, f.details.map((d) => d.split(": ")[0])]), [
    ["outside README.md", ["README.md:1"]],
    ["outside docs/a.md", ["docs/a.md:2"]],
    ["outside src/a.ts", ["src/a.ts:2"]],
    ["outside tests/a_test.ts", ["tests/a_test.ts:1"]],
  ]);
});

Deno.test("the allow-list covers a key exactly, or every key of a kind with `kind *`", () => {
  const list = new Set(["cycle a → b → a", "mirror *"]);
  equal(allowed(list, "cycle a → b → a"), true);
  equal(allowed(list, "cycle a → c → a"), false);
  equal(allowed(list, "mirror src/x.ts"), true);
});

Deno.test("the README and docs name only repository paths that exist", () => {
  equal(
    keys({
      "src/a/x.ts": "",
      "README.md": "See `src/a/x.ts` and `src/a/gone.ts`.\n",
      "docs/a.md": "Run `deno test tests/a/x_test.ts` ([other](docs/b.md)).\n",
      "docs/b.md": "Nothing named here.\n",
      "tests/a/x_test.ts": "",
    }),
    ["stale README.md"],
  );
});
