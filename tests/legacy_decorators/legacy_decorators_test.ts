/**
 * The same decorators in the legacy `experimentalDecorators` form. Run with
 * this folder's config (the root `deno test` excludes this folder):
 *
 *     deno test -A --config tests/legacy_decorators/deno.json tests/legacy_decorators/
 *
 * The config applies to every module of the run, so the scenarios shared with
 * TC39 (`../decorators/_decorator_cases.ts`) are compiled as legacy decorators
 * here; this file keeps what only the legacy dialect has.
 */
import assert from "node:assert/strict";
import { decoratorCases, dialect } from "../decorators/_decorator_cases.ts";

Deno.test("this file runs with experimentalDecorators (legacy decorators)", () => {
  assert.equal(dialect(), "legacy", "run with --config tests/legacy_decorators/deno.json");
});

decoratorCases("legacy", {
  decoratedClass(cls) {
    // Legacy decorators have no metadata object: nothing is written onto the class.
    assert.equal(Object.hasOwn(cls, Symbol.metadata), false);
  },
});
