/**
 * The same decorators in the legacy `experimentalDecorators` form. Run with
 * this folder's config (the root `deno test` excludes this folder):
 *
 *     deno test -A --config tests/e2e/legacy_decorators/deno.json tests/e2e/legacy_decorators/
 *
 * The config applies to every module of the run, so the scenarios shared with
 * TC39 (`../decorators/_decorator_cases.ts`) are compiled as legacy decorators
 * here; this file keeps what only the legacy dialect has.
 */
import assert from "node:assert/strict";
import { durableObject, onClose } from "../../../mod.ts";
import { decoratorCases, dialect } from "../../decorators/_decorator_cases.ts";

Deno.test("this file runs with experimentalDecorators (legacy decorators)", () => {
  assert.equal(dialect(), "legacy", "run with --config tests/e2e/legacy_decorators/deno.json");
});

decoratorCases("legacy", {
  decoratedClass(cls) {
    // Legacy decorators have no metadata object: nothing is written onto the class.
    assert.equal(Object.hasOwn(cls, Symbol.metadata), false);
  },
  rejects() {
    // Legacy decorators on a field get no method descriptor; on a method, no class.
    assert.throws(() => {
      class Field {
        // @ts-expect-error: a field is not a method
        @onClose
        handler = (): void => {};
      }
      return Field;
    }, { name: "TypeError", message: 'Cannot use @onClose on "handler": methods only' });
    assert.throws(() => {
      class Method {
        // @ts-expect-error: @durableObject marks classes
        @durableObject()
        method(): void {}
      }
      return Method;
    }, { name: "TypeError", message: "Cannot use @durableObject on a class member" });
  },
});
