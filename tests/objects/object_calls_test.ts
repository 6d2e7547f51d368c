// The calls with a result, as the object's handlers take them: an upgrade (@onConnect, else
// fetch, else a plain accept), plain HTTP (@onRequest, else fetch, else 501), RPC with
// structured clones, and the alarm. Every call runs through the object's event queue.
import assert from "node:assert/strict";
import type { ClassHandlers } from "../../src/objects/class_definition.ts";
import {
  callMethod,
  type CallTarget,
  connectObject,
  deliverAlarm,
  fetchObject,
} from "../../src/objects/object_calls.ts";
import { Connection } from "../../src/sockets/connection.ts";
import { upgradeTarget } from "../../src/sockets/web_socket_pair.ts";
import { UPGRADE_HEADERS } from "../_helpers.ts";

/** A target whose queue runs each call at once on `instance`, logging the operation name. */
function target(handlers: ClassHandlers, instance: object = {}) {
  const ran: string[] = [];
  const accepted: Array<[Connection, unknown]> = [];
  const t: CallTarget = {
    runtime: { handlers, binding: "ROOM" },
    queue: {
      run<T>(operation: string, fn: (instance: object) => T | Promise<T>): Promise<Awaited<T>> {
        ran.push(operation);
        return Promise.resolve().then(() => fn(instance)) as Promise<Awaited<T>>;
      },
    },
    accept: (ws, tags) => void accepted.push([ws, tags]),
    outputGate: null,
  };
  return { t, ran, accepted };
}

const upgrade = () => new Request("http://do/", { headers: UPGRADE_HEADERS });

Deno.test("connectObject() runs @onConnect and accepts with the tags it returns; a Response it returns is the answer; tags after accepting itself are a TypeError", async () => {
  const { t, ran, accepted } = target({
    connect: (_ws, request) =>
      new URL(request.url).searchParams.has("no")
        ? new Response("no", { status: 403 })
        : { tags: ["a"] },
  });
  const ws = await connectObject(t, upgrade());
  assert.ok(ws instanceof Connection);
  assert.deepEqual(accepted, [[ws, ["a"]]]);
  const refused = await connectObject(
    t,
    new Request("http://do/?no", { headers: UPGRADE_HEADERS }),
  );
  assert.ok(refused instanceof Response);
  assert.equal(refused.status, 403);
  assert.equal(accepted.length, 1);
  assert.deepEqual(ran, ["onConnect", "onConnect"]);

  const selfAccepting = target({
    connect: (ws) => {
      ws.accept();
      return { tags: ["a"] };
    },
  });
  await assert.rejects(
    connectObject(selfAccepting.t, upgrade()),
    (error: Error) =>
      error instanceof TypeError && /ctx\.acceptWebSocket\(ws, tags\)/.test(error.message),
    "tags it cannot apply, as it accepted the socket itself",
  );
  assert.deepEqual(selfAccepting.accepted, []);
});

Deno.test("without @onConnect an upgrade goes to fetch, and without either it is accepted without tags", async () => {
  const answer = new Response(null, { status: 426 });
  const withFetch = target({ fetch: () => answer });
  assert.equal(await connectObject(withFetch.t, upgrade()), answer);
  assert.deepEqual(withFetch.ran, ["fetch"]);
  const bare = target({});
  const ws = await connectObject(bare.t, upgrade());
  assert.deepEqual(bare.accepted, [[ws, undefined]]);
  assert.deepEqual(bare.ran, ["accept"]);
  const response = await fetchObject(bare.t, upgrade()); // stub.fetch() of an upgrade
  assert.equal(response.status, 101);
  assert.equal(upgradeTarget(response)?.server, bare.accepted[1]![0]);
});

Deno.test("fetchObject() prefers @onRequest over fetch, answers 501 without either, and rejects a handler that returns no Response", async () => {
  const both = target({
    request: () => new Response("request"),
    fetch: () => new Response("fetch"),
  });
  assert.equal(await (await fetchObject(both.t, new Request("http://do/"))).text(), "request");
  const none = target({});
  const response = await fetchObject(none.t, new Request("http://do/"));
  assert.equal(response.status, 501);
  assert.match(await response.text(), /^ROOM has no fetch or @onRequest handler/);
  assert.deepEqual(none.ran, []);
  const wrong = target({ fetch: () => "text" });
  await assert.rejects(
    fetchObject(wrong.t, new Request("http://do/")),
    /returned no Response: got string/,
  );
});

Deno.test("callMethod() clones the arguments before the call and the result after it; unclonable arguments and non-methods reject", async () => {
  const held: { list: number[] }[] = [];
  const instance = {
    hold(value: { list: number[] }) {
      held.push(value);
      return value;
    },
    notAMethod: 1,
  };
  const { t, ran } = target({}, instance);
  const input = { list: [1] };
  const pending = callMethod(t, "hold", [input]);
  input.list.push(2); // after the call was made: the object got a copy
  const out = await pending as { list: number[] };
  assert.deepEqual(held[0], { list: [1] });
  assert.deepEqual(out, { list: [1] });
  assert.notEqual(out, held[0]);
  await assert.rejects(callMethod(t, "hold", [() => {}]), /could not be cloned|DataCloneError/i);
  await assert.rejects(callMethod(t, "notAMethod", []), /"notAMethod" on ROOM: it is not a method/);
  assert.deepEqual(ran, ["hold", "notAMethod"], "an unclonable call never reaches the queue");
});

Deno.test("deliverAlarm() runs the alarm handler with its info, and skips the queue for a class without one", async () => {
  const infos: unknown[] = [];
  const info = { isRetry: false, retryCount: 0, scheduledTime: 5 };
  const withAlarm = target({ alarm: (i) => void infos.push(i) });
  assert.equal(await deliverAlarm(withAlarm.t, info), undefined);
  assert.deepEqual(infos, [info]);
  assert.deepEqual(withAlarm.ran, ["alarm"]);
  const without = target({});
  await deliverAlarm(without.t, info);
  assert.deepEqual(without.ran, []);
});
