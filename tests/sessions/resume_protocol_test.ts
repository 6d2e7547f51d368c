import assert from "node:assert/strict";
import {
  helloFrame,
  RESUME_PREFIX,
  selectProtocol,
  SESSION_PROTOCOL,
  sessionOffer,
  UNSUPPORTED_HELLO,
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

Deno.test("selectProtocol: the application's choice wins, else the session subprotocol when offered (with or without a resume value), else none", () => {
  const request = (protocols: string) =>
    new Request("http://x/", { headers: { "sec-websocket-protocol": protocols } });
  assert.equal(selectProtocol(request("chat.v2, dormant.session.v1"), "chat.v2"), "chat.v2");
  assert.equal(selectProtocol(request("chat.v2, dormant.session.v1"), ""), SESSION_PROTOCOL);
  assert.equal(
    selectProtocol(request(`dormant.session.v1, ${RESUME_PREFIX}abcdefghijklmnop.3`), undefined),
    SESSION_PROTOCOL,
  );
  assert.equal(selectProtocol(request("chat.v2"), undefined), "");
  assert.equal(selectProtocol(new Request("http://x/"), undefined), "");
});

Deno.test("the unsupported hello is a session hello with only its code", () => {
  assert.deepEqual(JSON.parse(UNSUPPORTED_HELLO), { dormant: "session", code: "unsupported" });
});
