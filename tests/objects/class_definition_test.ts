import assert from "node:assert/strict";
import {
  App,
  DurableObject,
  durableObject,
  type DurableObjectState,
  type ObjectClass,
} from "../../mod.ts";

/** An app whose exceptions are collected; the class is registered as ROOM. */
function appWith<C extends ObjectClass>(cls: C) {
  const exceptions: { error: unknown; operation: string }[] = [];
  const app = new App({
    objects: { ROOM: cls },
    onException: (error, { operation }) => exceptions.push({ error, operation }),
  });
  return { app, exceptions };
}

@durableObject({ name: "counter" })
class Counter extends DurableObject {
  n = 0;
  increment(): number {
    return ++this.n;
  }
}

Deno.test("a DurableObject subclass that does not pass ctx to super() fails when its instance is built, saying how to call super()", async () => {
  @durableObject({ name: "forgot" })
  class Forgot extends Counter {
    constructor(ctx: DurableObjectState, env: unknown) {
      // The mistake type-checks when a cast hides it; under `deno run` nothing checks it.
      super(undefined as unknown as DurableObjectState, env);
      void ctx;
    }
  }
  @durableObject({ name: "swapped" })
  class Swapped extends Counter {
    // deno-lint-ignore no-explicit-any
    constructor(ctx: DurableObjectState, env: any) {
      super(env, ctx);
    }
  }
  for (const cls of [Forgot, Swapped]) {
    const { app, exceptions } = appWith(cls);
    await using _ = app;
    const message =
      `Cannot build ROOM as class ${cls.name}'s constructor did not pass ctx to super(): write constructor(ctx, env) { super(ctx, env); ... }`;
    await assert.rejects(app.env.ROOM.getByName("a").increment(), { name: "TypeError", message });
    assert.equal(exceptions.length, 1);
    assert.equal(exceptions[0]!.operation, "start");
    assert.equal((exceptions[0]!.error as Error).message, message);
  }
});

Deno.test("a class that declares ctx but leaves it undefined fails when its instance is built; a class that keeps no ctx is fine", async () => {
  @durableObject({ name: "unset" })
  class Unset {
    ctx: DurableObjectState | undefined = undefined;
    ping(): string {
      return "pong";
    }
  }
  const { app, exceptions } = appWith(Unset);
  await using _ = app;
  await assert.rejects(app.env.ROOM.getByName("a").ping(), {
    name: "TypeError",
    message:
      "Cannot build ROOM as this.ctx is undefined after class Unset's constructor: assign it from the first constructor argument, constructor(ctx) { this.ctx = ctx; }",
  });
  assert.equal(exceptions[0]?.operation, "start");

  @durableObject({ name: "stateless" })
  class Stateless {
    ping(): string {
      return "pong";
    }
  }
  const { app: other } = appWith(Stateless);
  await using __ = other;
  assert.equal(await other.env.ROOM.getByName("a").ping(), "pong");
  const { app: counter } = appWith(Counter);
  await using ___ = counter;
  assert.equal(await counter.env.ROOM.getByName("a").increment(), 1);
});
