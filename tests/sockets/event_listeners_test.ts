import assert from "node:assert/strict";
import { EventListeners } from "../../src/sockets/event_listeners.ts";

Deno.test("a listener is added once per type, a once listener is handed out once, a removed one never", () => {
  const listeners = new EventListeners();
  const a = () => {};
  const b = { handleEvent: () => {} };
  const c = () => {};
  listeners.add("message", a);
  listeners.add("message", a); // added once, as on EventTarget
  listeners.add("message", b, { once: true });
  listeners.add("message", c);
  listeners.remove("message", c);
  listeners.add("close", c);
  assert.deepEqual(listeners.take("message"), [a, b]);
  assert.deepEqual(listeners.take("message"), [a]);
  assert.deepEqual(listeners.take("close"), [c]);
  assert.deepEqual(listeners.take("error"), []);
});

Deno.test("a listener that is neither a function nor has handleEvent() is a TypeError; null is ignored", () => {
  const listeners = new EventListeners();
  assert.throws(() => listeners.add("message", {}), TypeError);
  listeners.add("message", null);
  assert.deepEqual(listeners.take("message"), []);
});
