/**
 * Decorator scenarios shared by both dialects. The syntax is the same; only
 * the compiler config differs, and it applies to every module of a run. So
 * this module is compiled as TC39 decorators by the root `deno test` (from
 * `handlers_test.ts`) and as legacy `experimentalDecorators` when
 * `tests/e2e/legacy_decorators/legacy_decorators_test.ts` imports it under
 * `tests/e2e/legacy_decorators/deno.json`.
 */
import assert from "node:assert/strict";
import {
  App,
  DurableObject,
  durableObject,
  type DurableObjectState,
  type ObjectClass,
  onAlarm,
  onClose,
  onConnect,
  onError,
  onMessage,
  onRequest,
  onStart,
  type WebSocket,
} from "../../mod.ts";
import { serveApp, until, UPGRADE_HEADERS as HANDSHAKE } from "../_helpers.ts";
import { captureWarnings } from "./_capture_warnings.ts";

/** The two decorator dialects: TC39 decorators and `experimentalDecorators`. */
export type Dialect = "tc39" | "legacy";

/** Legacy method decorators receive `(prototype, key, descriptor)`; TC39 ones `(method, context)`. */
export function dialect(): Dialect {
  let seen: Dialect = "tc39";
  const probe = (_target: unknown, key: unknown) => {
    seen = typeof key === "string" ? "legacy" : "tc39";
  };
  class Probe {
    @probe
    method(): void {}
  }
  void Probe;
  return seen;
}

/** What only one dialect can check; each test file supplies its own. */
export interface DialectChecks {
  /** Asserts what the decorators left on a decorated class (TC39: a metadata object). */
  decoratedClass(cls: object): void;
  /** Further rejections with TypeError that only this dialect can detect. */
  rejects?(): void;
}

interface Log {
  log: string[];
}

/** Records what each decorated method receives. */
@durableObject({ name: "full" })
class Full {
  readonly ctx: DurableObjectState;
  readonly env: Log;
  constructor(ctx: DurableObjectState, env: Log) {
    this.ctx = ctx;
    this.env = env;
    env.log.push("constructor");
  }

  @onStart
  begin(): void {
    this.env.log.push("onStart");
  }

  @onConnect
  connect(ws: WebSocket, request: Request): Response | { tags: string[] } {
    const user = new URL(request.url).searchParams.get("user");
    if (user === null) return new Response("user required", { status: 400 });
    this.env.log.push(`onConnect(${user}, readyState ${ws.readyState})`);
    return { tags: [user] };
  }

  @onMessage
  message(ws: WebSocket, message: string | ArrayBuffer): void {
    this.env.log.push(`onMessage(${message})`);
    ws.send(`${this.ctx.getTags(ws).join()}:${message}`);
  }

  @onClose
  closed(_ws: WebSocket, code: number, reason: string, wasClean: boolean): void {
    this.env.log.push(`onClose(${code}, ${reason}, ${wasClean})`);
  }

  @onError
  failed(_ws: WebSocket, error: unknown): void {
    this.env.log.push(`onError(${error instanceof Error ? error.message.split(":")[0] : error})`);
  }

  @onRequest
  request(request: Request): Response {
    this.env.log.push(`onRequest(${request.method})`);
    return new Response("from onRequest");
  }

  /** A plain method: callable through a stub, unlike the handlers. */
  logged(): string[] {
    return this.env.log;
  }
}

/** A base class whose subclasses inherit, rename or replace its handlers. */
@durableObject({ name: "base" })
class Base extends DurableObject {
  readonly label: string = "base";
  @onConnect
  connect(): void {}
  @onMessage
  handle(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(`handle/${this.label}:${message}`);
  }
}

/** Inherits everything; only a field differs. */
@durableObject({ name: "inherits" })
class Inherits extends Base {
  override readonly label: string = "inherits";
}

/** Marks another method: the subclass's decorator wins for the subclass only. */
@durableObject({ name: "renames" })
class Renames extends Base {
  @onMessage
  other(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(`other:${message}`);
  }
}

/** Overrides the decorated method by name, without a decorator. */
@durableObject({ name: "replaces" })
class Replaces extends Base {
  override handle(ws: WebSocket, message: string | ArrayBuffer): void {
    ws.send(`replaced:${message}`);
  }
}

/** No @durableObject of its own. */
class Bare extends Base {}

/**
 * Registers the shared scenarios as `Deno.test` cases named `<dialect>: …`.
 * The caller's module must be compiled in `dialect`; the first case checks it.
 */
export function decoratorCases(name: Dialect, checks: DialectChecks): void {
  Deno.test(`${name}: a handler may have a symbol name`, async () => {
    const MESSAGE = Symbol("message");
    @durableObject({ name: "symbolic" })
    class Symbolic {
      @onMessage
      [MESSAGE](ws: WebSocket, message: string | ArrayBuffer): void {
        ws.send(`symbol:${message}`);
      }
    }
    await using s = await serveApp({
      objects: { SYM: Symbolic },
      routes: [{ pattern: "/s/:name", object: "SYM" }],
    });
    const client = await s.connect("/s/a");
    client.socket.send("m");
    assert.equal(await client.next(), "symbol:m");
  });

  Deno.test(`${name}: decorators record metadata only: a decorated class never passed to an App is inert`, async () => {
    assert.equal(dialect(), name, "the run's compiler config decides the dialect");
    let constructed = 0;
    @durableObject({ name: "inert" })
    class Inert {
      constructor() {
        constructed++;
      }
      @onMessage
      message(): void {}
    }
    checks.decoratedClass(Inert);

    @durableObject({ name: "other" })
    class Other {
      @onRequest
      request(): Response {
        return new Response("other");
      }
    }
    await using app = new App({ objects: { OTHER: Other } });
    assert.deepEqual(Object.keys(app.env), ["OTHER"]);
    assert.equal(await (await app.env.OTHER.getByName("a").fetch("http://do/")).text(), "other");
    assert.equal(constructed, 0);

    // No global registry: the same class can be registered by two apps at once.
    await using one = new App({ objects: { INERT: Inert } });
    await using two = new App({ objects: { ALSO: Inert } });
    assert.equal(one.env.INERT.storageName, "inert");
    assert.equal(two.env.ALSO.storageName, "inert");
    assert.equal(constructed, 0);
  });

  Deno.test(`${name}: @onStart, @onConnect, @onMessage, @onClose, @onError and @onRequest reach the decorated methods`, async () => {
    const log: string[] = [];
    await using s = await serveApp({
      objects: { FULL: Full },
      env: { log },
      maxMessageBytes: 16,
      routes: [
        { pattern: "/ws/:name", object: "FULL" },
        { pattern: "/http/:name", object: "FULL", websocket: false },
      ],
    });
    const refused = await fetch(s.url("/ws/a"), { headers: HANDSHAKE });
    assert.equal(refused.status, 400);
    assert.equal(await refused.text(), "user required");

    const alice = await s.connect("/ws/a?user=alice");
    alice.socket.send("hi");
    assert.equal(await alice.next(), "alice:hi");
    await alice.close(4001, "bye");
    await until(() => log.some((l) => l.startsWith("onClose")), "onClose");

    const bob = await s.connect("/ws/a?user=bob");
    bob.socket.send("x".repeat(17));
    assert.equal((await bob.closed).code, 1009);
    await until(() => log.some((l) => l.startsWith("onError")), "onError");

    const plain = await fetch(s.url("/http/a"), { method: "POST", body: "b" });
    assert.equal(await plain.text(), "from onRequest");

    assert.deepEqual(log, [
      "constructor",
      "onStart",
      "onConnect(alice, readyState 0)",
      "onMessage(hi)",
      "onClose(4001, bye, true)",
      "onConnect(bob, readyState 0)",
      "onError(Message is too large)",
      "onRequest(POST)",
    ]);
    assert.equal(s.exceptions.length, 0);
  });

  Deno.test(`${name}: subclasses inherit decorated handlers and can override them; the parent keeps its own`, async () => {
    await using s = await serveApp({
      objects: { BASE: Base, INHERITS: Inherits, RENAMES: Renames, REPLACES: Replaces },
      routes: ["BASE", "INHERITS", "RENAMES", "REPLACES"].map((object) => ({
        pattern: `/${object}/:name`,
        object,
      })),
    });
    const expected: Record<string, string> = {
      BASE: "handle/base:m",
      INHERITS: "handle/inherits:m",
      RENAMES: "other:m",
      REPLACES: "replaced:m",
    };
    for (const [object, reply] of Object.entries(expected)) {
      const client = await s.connect(`/${object}/a`);
      client.socket.send("m");
      assert.equal(await client.next(), reply, object);
    }
    assert.equal(s.app.env.INHERITS.storageName, "inherits");
  });

  Deno.test(`${name}: a class without @durableObject uses its binding key as storage name, a subclass inherits its parent's`, async () => {
    class Undecorated {
      @onRequest
      request(): Response {
        return new Response("ok");
      }
    }
    const warnings = await captureWarnings(async () => {
      await using app = new App({ objects: { LOBBY: Undecorated } });
      assert.equal(app.env.LOBBY.storageName, "LOBBY");
      assert.equal(await (await app.env.LOBBY.getByName("x").fetch("http://do/")).text(), "ok");
    });
    assert.equal(warnings.length, 1, "a one-time warning says renaming LOBBY would lose data");
    assert.match(warnings[0]!, /"LOBBY" \(class Undecorated\) has no storage name/);

    await using bare = new App({ objects: { BARE: Bare } });
    assert.equal(bare.env.BARE.storageName, "base");
    // So a parent and an undecorated subclass cannot share one app: loud, not silent.
    assert.throws(() => new App({ objects: { BASE: Base, BARE: Bare } }), /already used/);
  });

  Deno.test(`${name}: decorators reject what they cannot mark with TypeError`, () => {
    assert.throws(() => {
      class Static {
        @onMessage
        static message(): void {}
      }
      return Static;
    }, TypeError);
    assert.throws(() => durableObject(null as unknown as object), TypeError);
    checks.rejects?.();
  });

  Deno.test(`${name}: @durableObject without parentheses is a TypeError that shows the call with options`, () => {
    assert.throws(() => {
      // @ts-expect-error: @durableObject takes options, not the class
      @durableObject
      class Room {}
      return Room;
    }, {
      name: "TypeError",
      message:
        'Cannot use @durableObject without parentheses: write @durableObject({ name: "..." }) with a stable storage name',
    });
  });

  Deno.test(`${name}: @onMessage() with parentheses is a TypeError that says to drop them`, () => {
    assert.throws(() => {
      class Room {
        // @ts-expect-error: @onMessage is not a decorator factory
        @onMessage()
        message(): void {}
      }
      return Room;
    }, {
      name: "TypeError",
      message: "Cannot use @onMessage() with parentheses: write @onMessage without them",
    });
  });

  Deno.test(`${name}: two methods of one class with the same handler decorator are a TypeError naming both`, () => {
    assert.throws(() => {
      class Twice {
        @onMessage
        first(): void {}
        @onMessage
        second(): void {}
      }
      return Twice;
    }, {
      name: "TypeError",
      message:
        'Cannot mark both "first" and "second" with @onMessage: a class has one @onMessage handler; remove one of the decorators (a subclass may replace its parent\'s)',
    });
  });

  Deno.test(`${name}: a decorated handler and Cloudflare's method for the same event are a TypeError from new App naming both`, async () => {
    class Message {
      @onMessage
      foo(): void {}
      webSocketMessage(): void {}
    }
    assert.throws(() => new App({ objects: { ROOM: Message } }), {
      name: "TypeError",
      message:
        'Cannot register "ROOM" as class Message has both @onMessage "foo" and webSocketMessage() for messages: keep one (decorators or Cloudflare\'s method names)',
    });
    class Close {
      @onClose
      left(): void {}
      webSocketClose(): void {}
    }
    class Failed {
      @onError
      failed(): void {}
      webSocketError(): void {}
    }
    class Ring {
      @onAlarm
      ring(): void {}
      alarm(): void {}
    }
    class Both extends DurableObject {
      @onConnect
      connect(): void {}
      @onRequest
      request(): Response {
        return new Response("decorated");
      }
      fetch(): Response {
        return new Response("never: upgrades and plain HTTP both have a decorated handler");
      }
    }
    const expected: [ObjectClass, RegExp][] = [
      [Close, /@onClose "left" and webSocketClose\(\)/],
      [Failed, /@onError "failed" and webSocketError\(\)/],
      [Ring, /@onAlarm "ring" and alarm\(\)/],
      [Both, /@onConnect "connect", @onRequest "request" and fetch\(\), which would never run/],
    ];
    for (const [cls, message] of expected) {
      assert.throws(() => new App({ objects: { ROOM: cls } }), { name: "TypeError", message });
    }

    // fetch() beside one of @onConnect/@onRequest still takes the other kind of request.
    class ConnectAndFetch extends DurableObject {
      @onConnect
      connect(): void {}
      fetch(): Response {
        return new Response("plain HTTP");
      }
    }
    await using both = await serveApp({
      objects: { CF: ConnectAndFetch },
      routes: [{ pattern: "/cf/:name", object: "CF", websocket: false }],
    });
    const plain = await fetch(both.url("/cf/a"));
    assert.equal(await plain.text(), "plain HTTP");

    // Decorating the method that has Cloudflare's name is one handler, not two.
    @durableObject({ name: "same" })
    class Same {
      @onMessage
      webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
        ws.send(`same:${message}`);
      }
    }
    await using s = await serveApp({
      objects: { SAME: Same },
      routes: [{ pattern: "/s/:name", object: "SAME" }],
    });
    const client = await s.connect("/s/a");
    client.socket.send("m");
    assert.equal(await client.next(), "same:m");
  });

  Deno.test(`${name}: a decorated name that is not a method is a TypeError that spells the decorator as exported`, () => {
    class Gone {
      @onMessage
      message(): void {}
    }
    delete (Gone.prototype as Partial<Gone>).message;
    assert.throws(() => new App({ objects: { GONE: Gone } }), {
      name: "TypeError",
      message: 'Cannot register "GONE" as its @onMessage target "message" is not a method',
    });
  });

  Deno.test(`${name}: a stub refuses to call a decorated handler, before the object is built; plain methods stay callable`, async () => {
    const log: string[] = [];
    await using app = new App({ objects: { FULL: Full }, env: { log } });
    const stub = app.env.FULL.getByName("a");
    await assert.rejects(stub.connect(null as unknown as WebSocket, new Request("http://do/")), {
      name: "TypeError",
      message:
        'Cannot call "connect" through a stub: it is the @onConnect handler of FULL, not an RPC method (move the shared code into a plain method and call that)',
    });
    const handlers: Record<string, string> = {
      begin: "@onStart",
      message: "@onMessage",
      closed: "@onClose",
      failed: "@onError",
      request: "@onRequest",
    };
    const untyped = stub as unknown as Record<string, () => Promise<unknown>>;
    for (const [key, decorator] of Object.entries(handlers)) {
      await assert.rejects(untyped[key]!(), {
        name: "TypeError",
        message: new RegExp(`^Cannot call "${key}" through a stub: it is the ${decorator} handler`),
      });
    }
    assert.deepEqual(log, []);
    assert.deepEqual(await stub.logged(), ["constructor", "onStart"]);
  });

  Deno.test(`${name}: handler decorators check the method's signature in the type system; the legacy call form type-checks`, async () => {
    // Each @ts-expect-error below fails the type check of this file if its line type-checks.
    @durableObject({ name: "typos" })
    class Typos {
      // @ts-expect-error: @onConnect may return { tags }, not { tag }
      @onConnect
      connect(): { tag: string[] } {
        return { tag: ["a"] };
      }
      // @ts-expect-error: a message is a string or an ArrayBuffer
      @onMessage
      message(_ws: WebSocket, _n: number): void {}
      // @ts-expect-error: a close code is a number
      @onClose
      closed(_ws: WebSocket, _code: string): void {}
      // @ts-expect-error: @onRequest answers with a Response
      @onRequest
      request(): string {
        return "ok";
      }
    }
    void Typos;

    // The legacy form (prototype, key, descriptor), as experimentalDecorators call it.
    @durableObject({ name: "called" })
    class Called {
      echo(ws: WebSocket, message: string | ArrayBuffer): void {
        ws.send(`called:${message}`);
      }
    }
    const descriptor: TypedPropertyDescriptor<Called["echo"]> = Object.getOwnPropertyDescriptor(
      Called.prototype,
      "echo",
    )!;
    onMessage(Called.prototype, "echo", descriptor);
    // @ts-expect-error: echo does not take a Request
    void (() => onConnect(Called.prototype, "echo", descriptor));

    await using s = await serveApp({
      objects: { CALLED: Called },
      routes: [{ pattern: "/c/:name", object: "CALLED" }],
    });
    const client = await s.connect("/c/a");
    client.socket.send("m");
    assert.equal(await client.next(), "called:m");
  });
}
