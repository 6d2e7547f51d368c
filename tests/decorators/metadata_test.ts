import assert from "node:assert/strict";
import { durableObject, onClose, onMessage } from "../../mod.ts";
import {
  decoratorName,
  hasOwnOptions,
  readDefinition,
  recordLegacyHandler,
  recordLegacyOptions,
} from "../../src/decorators/metadata.ts";

Deno.test("readDefinition() merges a class's decorator records over its parents', nearest options winning", () => {
  @durableObject({ name: "base" })
  class Base {
    @onMessage
    message(): void {}
    @onClose
    closed(): void {}
  }
  @durableObject({ name: "child" })
  class Child extends Base {
    @onMessage
    childMessage(): void {}
  }
  class Plain extends Child {}
  assert.deepEqual(readDefinition(Base), {
    options: { name: "base" },
    handlers: { message: "message", close: "closed" },
  });
  assert.deepEqual(readDefinition(Child), {
    options: { name: "child" },
    handlers: { message: "childMessage", close: "closed" },
  });
  assert.deepEqual(readDefinition(Plain).options, { name: "child" });
  assert.equal(hasOwnOptions(Child), true);
  assert.equal(hasOwnOptions(Plain), false, "inherited options are not its own");
});

Deno.test("readDefinition() reads records of the legacy dialect, kept outside the class", () => {
  class Legacy {
    message(): void {}
  }
  recordLegacyOptions(Legacy, { name: "legacy" });
  recordLegacyHandler("message", Legacy.prototype, "message");
  assert.deepEqual(readDefinition(Legacy), {
    options: { name: "legacy" },
    handlers: { message: "message" },
  });
  assert.equal(Object.getOwnPropertySymbols(Legacy).length, 0, "nothing is written on the class");
  assert.equal(hasOwnOptions(Legacy), true);
});

Deno.test("a class without decorators has an empty definition", () => {
  class Bare {}
  assert.deepEqual(readDefinition(Bare), { options: undefined, handlers: {} });
});

Deno.test("decoratorName() spells each handler decorator as it is exported", () => {
  assert.equal(decoratorName("message"), "@onMessage");
  assert.equal(decoratorName("connect"), "@onConnect");
  assert.equal(decoratorName("start"), "@onStart");
});
