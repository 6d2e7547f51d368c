/**
 * TC39 decorators (the root config). The scenarios shared with the legacy
 * dialect are in `_decorator_cases.ts`; this file keeps what only TC39 has.
 */
import assert from "node:assert/strict";
import { durableObject, onClose } from "../../mod.ts";
import { decoratorCases } from "./_decorator_cases.ts";

decoratorCases("tc39", {
  decoratedClass(cls) {
    // TC39 decorators keep what they record in the class's own metadata object.
    assert.ok(Object.hasOwn(cls, Symbol.metadata));
  },
  rejects() {
    // Only TC39 decorators are told what they decorate (`context.kind`).
    assert.throws(() => {
      class Field {
        // @ts-expect-error: a field is not a method
        @onClose
        handler = (): void => {};
      }
      return Field;
    }, TypeError);
    assert.throws(() => {
      class Method {
        // @ts-expect-error: @durableObject marks classes
        @durableObject()
        method(): void {}
      }
      return Method;
    }, TypeError);
  },
});
