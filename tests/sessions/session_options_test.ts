import assert from "node:assert/strict";
import { resolveSessionOptions, SESSION_DEFAULTS } from "../../src/sessions/session_options.ts";

Deno.test("session options default to 1,000 messages, 1 MiB, 2 minutes of age and of resume window, no commit delay", () => {
  assert.deepEqual(resolveSessionOptions(undefined), {
    maxMessages: 1_000,
    maxBytes: 1_048_576,
    maxAgeMs: 120_000,
    resumeWindowMs: 120_000,
    commitDelayMs: 0,
  });
  assert.deepEqual(resolveSessionOptions({ maxAgeMs: 5_000 }), {
    ...SESSION_DEFAULTS,
    maxAgeMs: 5_000,
  });
});

Deno.test("session options refuse a non-object, a non-number and a value below the minimum, naming the option", () => {
  assert.throws(() => resolveSessionOptions(1 as never), TypeError);
  assert.throws(() => resolveSessionOptions({ maxMessages: 0 }), /sessions\.maxMessages .* ≥ 1/);
  assert.throws(() => resolveSessionOptions({ resumeWindowMs: "1" as never }), RangeError);
  assert.throws(() => resolveSessionOptions({ commitDelayMs: -1 }), /commitDelayMs/);
  assert.equal(resolveSessionOptions({ commitDelayMs: 0 }).commitDelayMs, 0);
});
