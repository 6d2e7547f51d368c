// A class runtime and app runtime for unit tests of the host bookkeeping (host tables, the
// directory, bindings): enough to make hosts, never to build an instance.
import { ManualClock } from "../../src/testing/mod.ts";
import type { AppRuntime, ClassRuntime } from "../../src/objects/class_runtime.ts";
import type { HostStore } from "../../src/objects/persisted_object.ts";

const unused = (what: string) => () => {
  throw new Error(`${what} is not used by this test`);
};

/** A write-behind store that records which calls were made, and loads nothing. */
export function recordingStore(): HostStore & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    markSocket: (_object, ws, what) => void calls.push(`markSocket:${ws.readyState}:${what}`),
    markConfig: () => void calls.push("markConfig"),
    forgetSocket: () => void calls.push("forgetSocket"),
    flush: () => Promise.resolve(),
    load: () => Promise.resolve(),
  };
}

/** App services that make hosts: a manual clock, default limits, a recording store. */
export function stubApp(): AppRuntime {
  return {
    clock: new ManualClock(0),
    env: () => ({}),
    maxMessageBytes: 1 << 20,
    maxAttachmentBytes: 16_384,
    maxBufferedBytes: 1 << 20,
    backpressure: "close",
    maxSocketsPerObject: 32_768,
    store: recordingStore(),
    report: unused("report"),
    createStorage: unused("createStorage"),
    socketGone: unused("socketGone"),
    forget: unused("forget"),
  };
}

/** The runtime of a class registered as `binding` under `storageName`, without handlers. */
export function stubRuntime(binding: string, storageName = binding): ClassRuntime {
  return {
    binding,
    storageName,
    ctor: class {},
    handlers: {},
    hibernate: true,
    hibernateAfterMs: 10_000,
    outputGate: true,
    resumable: false,
    app: stubApp(),
  };
}
