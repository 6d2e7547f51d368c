// The app's reporter: the onException hook when there is one, else one JSON line on stderr;
// a hook that throws loses neither error.
import assert from "node:assert/strict";
import { exceptionSink } from "../src/exception_sink.ts";
import type { ExceptionContext, ExceptionHandler } from "../src/types.ts";

const CONTEXT: ExceptionContext = { namespace: "ROOM", id: "ab".repeat(32), operation: "fetch" };

/** Runs `fn` with `console.error` captured; returns what it was called with, call by call. */
function captureStderr(fn: () => void): unknown[][] {
  const calls: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => void calls.push(args);
  try {
    fn();
  } finally {
    console.error = original;
  }
  return calls;
}

Deno.test("without a hook, a report writes one JSON line on stderr with the context, the error and its stack", () => {
  const error = new RangeError("out of range");
  const calls = captureStderr(() => exceptionSink({})(error, CONTEXT));
  assert.equal(calls.length, 1);
  assert.equal(calls[0]!.length, 1);
  const line = calls[0]![0] as string;
  assert.ok(!line.includes("\n"), "one line");
  assert.deepEqual(JSON.parse(line), {
    level: "error",
    msg: "exception in durable object",
    namespace: "ROOM",
    id: CONTEXT.id,
    operation: "fetch",
    error: "RangeError: out of range",
    stack: error.stack,
  });
  const [thrown] = captureStderr(() => exceptionSink({})("plain string", CONTEXT));
  assert.equal(JSON.parse(thrown![0] as string).error, "plain string");
});

Deno.test("with a hook, a report goes to the hook with its context and nothing is logged; the hook is read at each report", () => {
  const seen: Array<[unknown, ExceptionContext]> = [];
  const options: { onException?: ExceptionHandler } = {};
  const report = exceptionSink(options);
  const error = new Error("boom");
  const before = captureStderr(() => report(error, CONTEXT));
  assert.equal(before.length, 1, "no hook yet: logged");
  options.onException = (e, context) => void seen.push([e, context]);
  const after = captureStderr(() => report(error, CONTEXT));
  assert.deepEqual(after, []);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]![0], error);
  assert.deepEqual(seen[0]![1], CONTEXT);
});

Deno.test("a throwing hook does not throw out of the report: the line names the original error and what the hook threw", () => {
  const original = new TypeError("handler failed");
  const report = exceptionSink({
    onException: () => {
      throw new Error("hook failed too");
    },
  });
  const calls = captureStderr(() => report(original, CONTEXT));
  assert.equal(calls.length, 1);
  const line = JSON.parse(calls[0]![0] as string);
  assert.equal(line.operation, "fetch");
  assert.equal(line.error, "TypeError: handler failed");
  assert.equal(line.stack, original.stack);
  assert.equal(line.hookError, "Error: hook failed too");
  assert.match(line.hookStack, /hook failed too/);
});
