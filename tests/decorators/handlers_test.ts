/**
 * The handler decorators under TC39 decorators (the root config). The
 * scenarios shared with the legacy dialect are in `_decorator_cases.ts`
 * (they cover `@durableObject` beside the handlers, as classes use them
 * together); this file keeps what only TC39 has. Tests of `@durableObject`
 * alone are in `durable_object_test.ts`.
 */
import assert from "node:assert/strict";
import {
  App,
  durableObject,
  onClose,
  onPresence,
  type PresenceDiff,
  type WebSocket,
} from "../../mod.ts";
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

Deno.test("under deno run (no type check) decorator mistakes are TypeErrors that say the fix", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dormant-decorators-" });
  try {
    const script = `${dir}/main.ts`;
    const mod = new URL("../../mod.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { durableObject, onMessage } from ${JSON.stringify(mod)};
try {
  class A { @onMessage() m() {} }
} catch (error) {
  console.log(String(error));
}
@durableObject
class B {}
`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", script],
      cwd: dir,
      env: { NO_COLOR: "1" },
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    assert.equal(code, 1);
    assert.equal(
      decode(stdout),
      "TypeError: Cannot use @onMessage() with parentheses: write @onMessage without them\n",
    );
    assert.match(
      decode(stderr),
      /Uncaught (?:\(in promise\) )?TypeError: Cannot use @durableObject without parentheses: write @durableObject\(\{ name: "\.\.\." \}\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("@onPresence marks the presence handler: a second webSocketPresence() is refused, and a stub cannot call either", async () => {
  @durableObject({ name: "both" })
  class Both {
    @onPresence
    changed(_diff: PresenceDiff<string>): void {}
    webSocketPresence(_diff: PresenceDiff): void {}
  }
  assert.throws(
    () => new App({ objects: { ROOM: Both } }),
    /class Both has both @onPresence "changed" and webSocketPresence\(\) for presence changes: keep one/,
  );
  @durableObject({ name: "one" })
  class One {
    @onPresence
    changed(_diff: PresenceDiff): void {}
  }
  await using app = new App({ objects: { ROOM: One } });
  const stub = app.env.ROOM.getByName("a") as unknown as Record<string, () => Promise<unknown>>;
  await assert.rejects(stub.changed!(), /it is the @onPresence handler of ROOM, not an RPC method/);
  assert.equal(stub.webSocketPresence, undefined);
  // Type-level only: the wrong signature does not compile (the class is never built).
  const wrong = () => {
    class Wrong {
      // @ts-expect-error: a presence handler takes a diff, not a socket and a message
      @onPresence
      changed(_ws: WebSocket, _message: string): void {}
    }
    return Wrong;
  };
  assert.equal(typeof wrong, "function");
});
