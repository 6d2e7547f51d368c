// The conformance suite of `ObjectDirectory`: what every implementation of the seam must do,
// whether the object lives in this process or behind it in another one. A second
// implementation runs it with its own factory (see object_directory_test.ts for the in-process
// one): handlers, sockets and storage stay as they are, only the directory changes.
import assert from "node:assert/strict";
import {
  type AlarmInvocationInfo,
  DurableObject,
  type DurableObjectState,
  type ObjectId,
  type WebSocket,
  WebSocketPair,
  webSocketResponse,
} from "../../mod.ts";
import type { ObjectClass } from "../../src/options.ts";
import type { ObjectDirectory } from "../../src/objects/object_directory.ts";
import type { TestClient } from "../../src/testing/mod.ts";
import { until } from "../_helpers.ts";

/** What the suite gets from an implementation: the directory, and a gateway in front of it. */
export interface DirectoryUnderTest {
  /** The implementation under test, over the classes the suite passed to the factory. */
  readonly directory: ObjectDirectory;
  /** The id of `name` in the class registered as `namespace`. */
  idFromName(namespace: string, name: string): ObjectId;
  /** A WebSocket client upgraded through the gateway into object `name` of `namespace`. */
  connect(namespace: string, name: string): Promise<TestClient>;
  /** Drops the object's instance now, keeping its sockets: the next event must wake it. */
  hibernate(namespace: string, id: ObjectId): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Builds an implementation over `objects` (binding name → class) with `env`
 * as the app's env; the gateway routes `/<binding>/<name>` to object `name`.
 */
export type DirectoryFactory = (
  objects: Record<string, ObjectClass>,
  env: Record<string, unknown>,
) => Promise<DirectoryUnderTest>;

/** Shared with the objects through `env`. */
interface Probe {
  built: number;
  log: string[];
}

class Room extends DurableObject<{ probe: Probe }> {
  n = 0;

  constructor(ctx: DurableObjectState, env: { probe: Probe }) {
    super(ctx, env);
    env.probe.built++;
  }

  fetch(request: Request): Response {
    const url = new URL(request.url);
    if (request.headers.get("upgrade") === "websocket") {
      const [client, server] = Object.values(new WebSocketPair());
      this.ctx.acceptWebSocket(server, url.searchParams.getAll("tag"));
      const who = url.searchParams.get("who");
      if (who !== null) this.ctx.setPresence(server, { who, since: new Date(0) });
      return webSocketResponse(client);
    }
    if (url.searchParams.has("throw")) throw new RangeError("fetch failed on purpose");
    this.env.probe.log.push(`fetch:${url.searchParams.get("n")}`);
    return new Response(`hello ${url.searchParams.get("n")}`);
  }

  webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): void {
    this.env.probe.log.push(`message:${message}`);
    ws.send(`echo:${message}`);
  }

  webSocketClose(_ws: WebSocket, code: number, reason: string): void {
    this.env.probe.log.push(`close:${code}:${reason}`);
  }

  alarm(info: AlarmInvocationInfo): void {
    this.env.probe.log.push(`alarm:${info.retryCount}`);
  }

  add(by: number): number {
    return this.n += by;
  }

  append(tag: string): void {
    this.env.probe.log.push(tag);
  }

  echo(value: unknown): unknown {
    return value;
  }

  fail(): never {
    throw new TypeError("RPC failed on purpose");
  }
}

/** Registers the suite's tests for the implementation `name` built by `factory`. */
export function objectDirectoryConformance(name: string, factory: DirectoryFactory): void {
  const start = async () => {
    const probe: Probe = { built: 0, log: [] };
    const under = await factory({ ROOM: Room }, { probe });
    return {
      under,
      probe,
      directory: under.directory,
      id: (n: string) => under.idFromName("ROOM", n),
    };
  };

  Deno.test(`${name}: locate returns the one object of an id, and another for another id`, async () => {
    const { under, directory, id } = await start();
    await using _ = under;
    assert.equal(await directory.locate("ROOM", id("a")).call("add", [1]), 1);
    assert.equal(await directory.locate("ROOM", id("a")).call("add", [2]), 3);
    assert.equal(await directory.locate("ROOM", id("b")).call("add", [5]), 5);
    assert.equal(directory.locate("ROOM", id("a")).id.toString(), id("a").toString());
  });

  Deno.test(`${name}: events of one object run in arrival order`, async () => {
    const { under, probe, directory, id } = await start();
    await using _ = under;
    const endpoint = directory.locate("ROOM", id("order"));
    const done: Promise<unknown>[] = [];
    const expected: string[] = [];
    for (let i = 0; i < 20; i++) {
      if (i % 3 === 0) {
        done.push(endpoint.fetch(new Request(`http://do/?n=${i}`)));
        expected.push(`fetch:${i}`);
      } else {
        done.push(endpoint.call("append", [`call:${i}`]));
        expected.push(`call:${i}`);
      }
    }
    await Promise.all(done);
    assert.deepEqual(probe.log, expected);
  });

  Deno.test(`${name}: fetch and RPC results and errors come back, RPC values structured-cloned`, async () => {
    const { under, directory, id } = await start();
    await using _ = under;
    const endpoint = directory.locate("ROOM", id("results"));
    const response = await endpoint.fetch(new Request("http://do/?n=1"));
    assert.equal(await response.text(), "hello 1");
    await assert.rejects(
      endpoint.fetch(new Request("http://do/?throw")),
      /fetch failed on purpose/,
    );
    await assert.rejects(endpoint.call("fail", []), /RPC failed on purpose/);
    const value = { list: [1, 2], when: new Date(0), map: new Map([["k", 1]]) };
    const out = await endpoint.call("echo", [value]);
    assert.deepEqual(out, value);
    assert.notEqual(out, value, "the result is a copy, not the argument itself");
    await assert.rejects(endpoint.call("echo", [() => {}]), /could not be cloned|DataCloneError/i);
    await assert.rejects(endpoint.call("noSuchMethod", []), /not a method/);
  });

  Deno.test(`${name}: an alarm is delivered to the object's alarm handler`, async () => {
    const { under, probe, directory, id } = await start();
    await using _ = under;
    await directory.locate("ROOM", id("alarm")).alarm({
      isRetry: true,
      retryCount: 2,
      scheduledTime: 0,
    });
    assert.deepEqual(probe.log, ["alarm:2"]);
  });

  Deno.test(`${name}: a socket's messages and close reach the object's handlers`, async () => {
    const { under, probe } = await start();
    await using _ = under;
    const client = await under.connect("ROOM", "sockets");
    client.socket.send("hi");
    assert.equal(await client.next(), "echo:hi");
    await client.close(4000, "bye");
    await until(() => probe.log.includes("close:4000:bye"), "webSocketClose");
    assert.deepEqual(probe.log, ["message:hi", "close:4000:bye"]);
  });

  Deno.test(`${name}: a hibernated object is woken by a call, a socket message and an alarm`, async () => {
    const { under, probe, directory, id } = await start();
    await using _ = under;
    const client = await under.connect("ROOM", "sleepy");
    const endpoint = directory.locate("ROOM", id("sleepy"));
    assert.equal(await endpoint.call("add", [1]), 1);
    assert.equal(probe.built, 1);
    await under.hibernate("ROOM", id("sleepy"));
    assert.equal(await endpoint.call("add", [1]), 1, "a new instance: memory was dropped");
    assert.equal(probe.built, 2);
    await under.hibernate("ROOM", id("sleepy"));
    client.socket.send("wake");
    assert.equal(await client.next(), "echo:wake");
    assert.equal(probe.built, 3);
    await under.hibernate("ROOM", id("sleepy"));
    await endpoint.alarm({ isRetry: false, retryCount: 0, scheduledTime: 0 });
    assert.equal(probe.built, 4);
    assert.deepEqual(probe.log, ["message:wake", "alarm:0"]);
  });

  Deno.test(`${name}: a broadcast reaches the matching sockets of a hibernated object without waking it`, async () => {
    const { under, probe, directory, id } = await start();
    await using _ = under;
    const all = await under.connect("ROOM", "quiet");
    const tagged = await under.connect("ROOM", "quiet?tag=news");
    await under.hibernate("ROOM", id("quiet"));
    const built = probe.built; // the connect built one instance: the broadcasts must build none
    const endpoint = directory.locate("ROOM", id("quiet"));
    assert.equal(await endpoint.broadcast("to all"), 2);
    assert.equal(await all.next(), "to all");
    assert.equal(await tagged.next(), "to all");
    assert.equal(await endpoint.broadcast(new Uint8Array([1, 2]).buffer, { tag: "news" }), 1);
    assert.deepEqual([...new Uint8Array(await tagged.next() as ArrayBuffer)], [1, 2]);
    assert.equal(await directory.locate("ROOM", id("nobody")).broadcast("hello?"), 0);
    assert.equal(probe.built, built, "no instance was built for a broadcast");
    assert.deepEqual(probe.log, []);
    assert.equal(all.buffered, 0);
  });

  Deno.test(`${name}: the presence of a hibernated object's sockets is read without waking it, values structured-cloned`, async () => {
    const { under, probe, directory, id } = await start();
    await using _ = under;
    await under.connect("ROOM", "present?who=ann");
    await under.connect("ROOM", "present");
    await under.connect("ROOM", "present?who=bob");
    await under.hibernate("ROOM", id("present"));
    const built = probe.built;
    const list = await directory.locate("ROOM", id("present")).presence();
    assert.deepEqual(list.map((m) => m.value), [
      { who: "ann", since: new Date(0) },
      { who: "bob", since: new Date(0) },
    ]);
    assert.equal(new Set(list.map((m) => m.id)).size, 2, "one connection id per socket");
    assert.deepEqual(await directory.locate("ROOM", id("nobody")).presence(), []);
    assert.equal(probe.built, built, "no instance was built for a presence read");
    assert.deepEqual(probe.log, []);
  });
}
