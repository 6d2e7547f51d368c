/**
 * The behaviour every `Transport` promises, run against each implementation:
 * FIFO per (sender, receiver) pair, binary-safe and large messages, delivery
 * only to the addressed node with the sender's id, silent drops to nodes
 * nobody listens on, status changes, and a close that releases everything
 * (the test sanitizers catch leaked ops, timers and resources).
 */

import assert from "node:assert/strict";
import type { Transport, TransportStatus } from "../../src/cluster/transport.ts";

/** What a transport's test file provides to the suite. */
export interface TransportFixture extends AsyncDisposable {
  /** A new transport, not listening yet; `onError` receives what `onMessage` throws. */
  create(onError?: (error: unknown) => void): Transport;
  /** The largest message the transport carries. */
  readonly maxMessage: number;
}

/** The messages one node received, with a way to wait for a count. */
export class Inbox {
  readonly got: Array<{ from: string; bytes: Uint8Array }> = [];
  #waiting: { count: number; resolve: () => void } | null = null;

  readonly onMessage = (from: string, bytes: Uint8Array): void => {
    this.got.push({ from, bytes: bytes.slice() });
    if (this.#waiting !== null && this.got.length >= this.#waiting.count) this.#waiting.resolve();
  };

  /** Resolves once `count` messages arrived in total. */
  until(count: number): Promise<void> {
    if (this.got.length >= count) return Promise.resolve();
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#waiting = { count, resolve };
    return promise;
  }

  /** The payloads as text. */
  texts(): string[] {
    return this.got.map((m) => decoder.decode(m.bytes));
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (s: string) => encoder.encode(s);

function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let at = 0; at < size; at += 65_536) {
    crypto.getRandomValues(out.subarray(at, Math.min(size, at + 65_536)));
  }
  return out;
}

/**
 * Runs the transport conformance suite; `setup` is called once per test.
 * `largeMessagesLeaveTimer`: receiving a large message starts a timer of the
 * transport's client library that outlives `close()` for a while (ioredis'
 * parser shrinks its buffer pool on a module-level interval that stops itself
 * about 2 s later), so that one test runs without the op and resource sanitizers.
 */
export function transportConformance(
  name: string,
  setup: () => Promise<TransportFixture>,
  largeMessagesLeaveTimer = false,
): void {
  async function nodes(fx: TransportFixture, ids: string[]) {
    const out: Array<{ id: string; t: Transport; inbox: Inbox }> = [];
    for (const id of ids) {
      const t = fx.create();
      const inbox = new Inbox();
      await t.listen(id, inbox.onMessage);
      out.push({ id, t, inbox });
    }
    return out;
  }
  const closeAll = async (list: Array<{ t: Transport }>) => {
    for (const { t } of list) await t.close();
  };

  Deno.test(`${name}: three nodes sending at once receive each message once, in order per sender`, async () => {
    await using fx = await setup();
    const list = await nodes(fx, ["n1", "n2", "n3"]);
    const per = 200;
    for (let i = 0; i < per; i++) {
      for (const from of list) {
        for (const to of list) if (to !== from) from.t.send(to.id, text(`${from.id}:${i}`));
      }
    }
    for (const to of list) {
      await to.inbox.until(2 * per);
      for (const from of list) {
        if (from === to) continue;
        const seen = to.inbox.got.filter((m) => m.from === from.id).map((m) =>
          decoder.decode(m.bytes)
        );
        assert.deepEqual(seen, Array.from({ length: per }, (_, i) => `${from.id}:${i}`));
      }
      assert.equal(to.inbox.got.length, 2 * per);
    }
    await closeAll(list);
  });

  Deno.test({
    name: `${name}: every byte value and large messages arrive intact`,
    // Deno counts a pending interval as a leaked resource and op.
    sanitizeOps: !largeMessagesLeaveTimer,
    sanitizeResources: !largeMessagesLeaveTimer,
  }, async () => {
    await using fx = await setup();
    const [a, b] = await nodes(fx, ["a", "b"]);
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const sizes = [0, 1, 65_536, 65_537, fx.maxMessage];
    const sent = [all, ...sizes.map(randomBytes)];
    // A view into a larger buffer carries only its own bytes.
    const big = randomBytes(4096);
    sent.push(big.subarray(100, 300));
    for (const bytes of sent) a!.t.send("b", bytes);
    await b!.inbox.until(sent.length);
    assert.equal(b!.inbox.got.length, sent.length);
    b!.inbox.got.forEach((m, i) => {
      assert.equal(m.from, "a");
      assert.deepEqual(m.bytes, sent[i]!.slice(), `message ${i} (${sent[i]!.length} bytes)`);
    });
    await closeAll([a!, b!]);
  });

  Deno.test(`${name}: a message reaches only the node it is addressed to, with the sender's id`, async () => {
    await using fx = await setup();
    const [a, b, c] = await nodes(fx, ["a", "b", "c"]);
    a!.t.send("b", text("for b"));
    c!.t.send("b", text("also for b"));
    a!.t.send("c", text("for c"));
    b!.t.send("b", text("to myself"));
    await b!.inbox.until(3);
    await c!.inbox.until(1);
    await a!.inbox.until(0);
    assert.deepEqual(
      b!.inbox.got.map((m) => `${m.from}>${decoder.decode(m.bytes)}`).sort(),
      ["a>for b", "b>to myself", "c>also for b"],
    );
    assert.deepEqual(c!.inbox.got.map((m) => `${m.from}>${decoder.decode(m.bytes)}`), ["a>for c"]);
    // A round trip through `a` proves nothing else was on its way to it.
    b!.t.send("a", text("last"));
    await a!.inbox.until(1);
    assert.deepEqual(a!.inbox.texts(), ["last"]);
    await closeAll([a!, b!, c!]);
  });

  Deno.test(`${name}: messages to a node nobody listens on vanish without an error`, async () => {
    await using fx = await setup();
    const [a, b] = await nodes(fx, ["a", "b"]);
    a!.t.send("ghost", text("lost 1"));
    a!.t.send("ghost", text("lost 2"));
    // Once `b` has the next message from `a`, the ones before it have left `a`.
    a!.t.send("b", text("sync"));
    await b!.inbox.until(1);
    const ghost = fx.create();
    const inbox = new Inbox();
    await ghost.listen("ghost", inbox.onMessage);
    a!.t.send("ghost", text("heard"));
    await inbox.until(1);
    // FIFO per pair: had the earlier messages been kept, they would have come first.
    assert.deepEqual(inbox.texts(), ["heard"]);
    await ghost.close();
    await closeAll([a!, b!]);
  });

  Deno.test(`${name}: listening again moves the node to a new id: old id silent, new id heard`, async () => {
    await using fx = await setup();
    const [a, b] = await nodes(fx, ["a", "b"]);
    const moved = new Inbox();
    await a!.t.listen("a2", moved.onMessage);
    assert.equal(a!.t.status, "up");
    a!.t.send("b", text("from the new id"));
    await b!.inbox.until(1);
    assert.equal(b!.inbox.got[0]!.from, "a2");
    b!.t.send("a", text("to the old id"));
    b!.t.send("a2", text("to the new id"));
    await moved.until(1);
    // A round trip more: the message to the old id had all that time to arrive, and did not.
    a!.t.send("b", text("ping"));
    await b!.inbox.until(2);
    b!.t.send("a2", text("pong"));
    await moved.until(2);
    assert.deepEqual(moved.texts(), ["to the new id", "pong"]);
    assert.deepEqual(a!.inbox.texts(), []);
    await closeAll([a!, b!]);
  });

  Deno.test(`${name}: status is down before listen, up while listening, down after close`, async () => {
    await using fx = await setup();
    const t = fx.create();
    const seen: TransportStatus[] = [];
    t.onStatus((s) => seen.push(s));
    assert.equal(t.status, "down");
    t.send("nobody", text("dropped while down")); // no error
    await t.listen("a", () => {});
    assert.equal(t.status, "up");
    await t.close();
    assert.equal(t.status, "down");
    assert.deepEqual(seen, ["up", "down"]);
  });

  Deno.test(`${name}: close releases everything, is idempotent, and later sends are dropped`, async () => {
    await using fx = await setup();
    const [a, b] = await nodes(fx, ["a", "b"]);
    a!.t.send("b", text("one"));
    await b!.inbox.until(1);
    await b!.t.close();
    await b!.t.close();
    a!.t.send("b", text("to a closed node"));
    await a!.t.close();
    a!.t.send("b", text("from a closed node"));
    await a!.t.close();
    assert.equal(a!.t.status, "down");
    assert.deepEqual(b!.inbox.texts(), ["one"]);
  });

  Deno.test(`${name}: bad arguments throw before anything is sent`, async () => {
    await using fx = await setup();
    const [a, b] = await nodes(fx, ["a", "b"]);
    assert.throws(() => a!.t.send("", text("x")), TypeError);
    assert.throws(() => a!.t.send("b", "text" as unknown as Uint8Array), TypeError);
    assert.throws(() => a!.t.send("x".repeat(256), text("x")), /255/);
    const fresh = fx.create();
    await assert.rejects(async () => await fresh.listen("", () => {}), TypeError);
    await fresh.close();
    await assert.rejects(async () => await fresh.listen("closed", () => {}), TypeError);
    a!.t.send("b", text("still works"));
    await b!.inbox.until(1);
    assert.deepEqual(b!.inbox.texts(), ["still works"]);
    await closeAll([a!, b!]);
  });

  Deno.test(`${name}: an exception thrown by onMessage is reported, and delivery goes on`, async () => {
    await using fx = await setup();
    const errors: unknown[] = [];
    const a = fx.create();
    await a.listen("a", () => {});
    const b = fx.create((e) => errors.push(e));
    const inbox = new Inbox();
    await b.listen("b", (from, bytes) => {
      inbox.onMessage(from, bytes);
      if (inbox.got.length === 1) throw new Error("boom");
    });
    a.send("b", text("1"));
    a.send("b", text("2"));
    await inbox.until(2);
    assert.deepEqual(inbox.texts(), ["1", "2"]);
    assert.equal((errors[0] as Error).message, "boom");
    await a.close();
    await b.close();
  });
}
