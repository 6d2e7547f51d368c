import assert from "node:assert/strict";
import { matchesAutoResponse, responseBound } from "../../src/sockets/auto_response.ts";

Deno.test("only the exact request text on a hibernatable socket is answered by the auto-response", () => {
  const auto = { request: "ping", response: "pong" };
  assert.equal(matchesAutoResponse(auto, "ping", true), true);
  assert.equal(matchesAutoResponse(auto, "Ping", true), false);
  assert.equal(matchesAutoResponse(auto, "ping", false), false); // accept()ed: the listener gets it
  assert.equal(matchesAutoResponse(null, "ping", true), false);
  assert.equal(responseBound(auto), 12);
});
