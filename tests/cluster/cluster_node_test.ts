import assert from "node:assert/strict";
import { ClusterNode, errorBody, errorFrom, NoReply } from "../../src/cluster/cluster_node.ts";
import { NOT_OWNER, OK } from "../../src/cluster/wire.ts";
import { ManualClock } from "../../src/testing/mod.ts";
import { MemoryNetwork } from "./_memory_transport.ts";

function pair() {
  const network = new MemoryNetwork();
  const clock = new ManualClock();
  const dead: string[] = [];
  const make = (node: string) =>
    new ClusterNode({
      node,
      transport: network.transport(),
      clock,
      requestTimeoutMs: 1_000,
      deadMs: 3_000,
      handlers: {
        serve: (from, body) => {
          if (body === "throw") return Promise.reject(new RangeError("no such thing"));
          if (body === "moved") return Promise.resolve({ status: NOT_OWNER, body: null });
          return Promise.resolve({ status: OK, body: { from, body } });
        },
        ops: () => {},
        peerDead: (peer, down) =>
          void dead.push(`${node} lost ${peer}${down ? " (transport down)" : ""}`),
        report: () => {},
      },
    });
  return { network, clock, dead, a: make("a"), b: make("b") };
}

Deno.test("a request gets its own reply; a handler's error comes back with its name", async () => {
  const { a, b } = pair();
  await a.start();
  await b.start();
  const [one, two] = await Promise.all([a.request("b", 1), a.request("b", 2)]);
  assert.deepEqual(one, { status: OK, body: { from: "a", body: 1 } });
  assert.deepEqual(two.body, { from: "a", body: 2 });
  assert.equal((await a.request("b", "moved")).status, NOT_OWNER);
  const failed = await a.request("b", "throw");
  const error = errorFrom(failed.body);
  assert.ok(error instanceof RangeError);
  assert.equal(error.message, "no such thing");
  await a.close();
  await b.close();
});

Deno.test("a request nobody answers fails with NoReply after the timeout", async () => {
  const { a, clock } = pair();
  await a.start();
  const failed = assert.rejects(a.request("nobody", 1), NoReply);
  await clock.advance(1_000);
  await failed;
  await a.close();
});

Deno.test("a watched peer that stops beating is declared dead once", async () => {
  const { a, b, clock, dead } = pair();
  await a.start();
  await b.start();
  a.watch("b");
  b.watch("a");
  await clock.advance(1_000);
  await new Promise((resolve) => setTimeout(resolve, 10)); // beats delivered
  assert.deepEqual(dead, []);
  await b.close(); // b stops beating
  await clock.advance(3_000);
  await clock.advance(1_000);
  assert.deepEqual(dead, ["a lost b"]);
  await a.close();
});

Deno.test("a transport back after an outage shorter than the dead time loses every peer, as transport down", async () => {
  const { a, b, clock, dead, network } = pair();
  await a.start();
  await b.start();
  a.watch("b");
  const pending = assert.rejects(a.request("nobody-yet", 1), NoReply);
  a.watch("nobody-yet");
  network.up = false;
  await clock.advance(1_000);
  assert.deepEqual(dead, [], "not dead while the outage is shorter than the dead time");
  network.up = true;
  assert.deepEqual(dead.sort(), [
    "a lost b (transport down)",
    "a lost nobody-yet (transport down)",
  ]);
  await pending;
  await a.close();
  await b.close();
});

Deno.test("errorBody keeps a name and message of anything thrown", () => {
  assert.deepEqual(errorBody(new TypeError("x")), { name: "TypeError", message: "x" });
  assert.deepEqual(errorBody("plain"), { name: "Error", message: "plain" });
  const custom = errorFrom({ name: "MyError", message: "m" });
  assert.equal(custom.name, "MyError");
  assert.equal(errorFrom({ name: "DataCloneError", message: "d" }).name, "DataCloneError");
});
