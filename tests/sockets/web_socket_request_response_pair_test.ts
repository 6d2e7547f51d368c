import assert from "node:assert/strict";
import { WebSocketRequestResponsePair } from "../../src/sockets/web_socket_request_response_pair.ts";

Deno.test("WebSocketRequestResponsePair offers read-only request/response accessors and getRequest()/getResponse()", () => {
  const pair = new WebSocketRequestResponsePair("ping", "pong");
  assert.equal(pair.request, "ping");
  assert.equal(pair.response, "pong");
  assert.equal(pair.getRequest(), "ping");
  assert.equal(pair.getResponse(), "pong");
  assert.throws(() => {
    (pair as { request: string }).request = "x";
  }, TypeError);
  assert.throws(() => {
    (pair as { response: string }).response = "x";
  }, TypeError);
  assert.equal(pair.request, "ping");
  assert.equal(pair.response, "pong");
  assert.deepEqual(Object.keys(pair), []);
  // A long pair constructs fine; ctx.setWebSocketAutoResponse checks the length.
  assert.equal(new WebSocketRequestResponsePair("a".repeat(5000), "b").request.length, 5000);
});

Deno.test("new WebSocketRequestResponsePair with fewer than 2 arguments throws a TypeError", () => {
  const Ctor = WebSocketRequestResponsePair as unknown as new (
    ...args: unknown[]
  ) => WebSocketRequestResponsePair;
  assert.throws(() => new Ctor("ping"), TypeError);
  assert.throws(() => new Ctor(), TypeError);
  assert.throws(
    () => (WebSocketRequestResponsePair as unknown as (a: string, b: string) => void)("a", "b"),
    TypeError,
  );
});

Deno.test("WebSocketRequestResponsePair converts its request and response with String()", () => {
  const pair = new WebSocketRequestResponsePair(1 as unknown as string, null as unknown as string);
  assert.deepEqual([pair.request, pair.getResponse()], ["1", "null"]);
});
