import assert from "node:assert/strict";
import {
  helloFrame,
  RESUME_PREFIX,
  SESSION_PROTOCOL,
  sessionOffer,
} from "../../src/sessions/resume_protocol.ts";

const offer = (protocols: string) =>
  sessionOffer(new Request("http://x/", { headers: { "sec-websocket-protocol": protocols } }));

Deno.test("sessionOffer: the session subprotocol asks for a new session; with a resume value it carries the token and seq", () => {
  assert.deepEqual(offer(SESSION_PROTOCOL), { token: null, seq: 0 });
  const token = "A".repeat(43);
  assert.deepEqual(offer(`chat, ${SESSION_PROTOCOL}, ${RESUME_PREFIX}${token}.42`), {
    token,
    seq: 42,
  });
});

Deno.test("sessionOffer: no session subprotocol is no offer; a malformed resume value is a new session", () => {
  assert.equal(offer("chat"), null);
  assert.equal(offer(`${RESUME_PREFIX}${"A".repeat(43)}.1`), null);
  assert.deepEqual(offer(`${SESSION_PROTOCOL}, ${RESUME_PREFIX}short.1`), { token: null, seq: 0 });
  assert.deepEqual(offer(`${SESSION_PROTOCOL}, ${RESUME_PREFIX}${"A".repeat(43)}.x`), {
    token: null,
    seq: 0,
  });
});

Deno.test("helloFrame is one JSON text frame with the code, token and seq", () => {
  assert.deepEqual(JSON.parse(helloFrame("too_old", "tok", 0)), {
    dormant: "session",
    code: "too_old",
    token: "tok",
    seq: 0,
  });
});
