// The sockets of one object, which outlive its instances: hibernatable ones listed with their
// tags and counted until their descriptor is gone (up to the per-object cap), and accept()ed
// ones that keep the instance in memory.
import assert from "node:assert/strict";
import { ObjectFullError } from "../../mod.ts";
import { ObjectSockets } from "../../src/objects/object_sockets.ts";
import type { PersistedObject } from "../../src/objects/persisted_object.ts";
import { Connection } from "../../src/sockets/connection.ts";
import { DIRTY } from "../../src/sockets/connection_internals.ts";
import { type ConnectionOwner, RECORD } from "../../src/sockets/connection_owner.ts";
import { MemorySocketRegistry } from "../../src/sockets/socket_registry.ts";
import { recordingStore } from "./_runtime_stub.ts";

/** The default `maxSocketsPerObject`. */
const CAP = 32_768;

const owner: ConnectionOwner = {
  autoResponse: null,
  maxMessageBytes: 1 << 20,
  maxAttachmentBytes: 16_384,
  maxBufferedBytes: 1 << 20,
  backpressure: "close",
  outputGate: null,
  now: () => 0,
  onMessage: () => {},
  onClose: () => {},
  onError: () => {},
  onLeave: () => {},
  onGone: () => {},
  onDetach: () => {},
  onDirty: () => {},
};

function setup() {
  const store = recordingStore();
  const sockets = new ObjectSockets(
    new MemorySocketRegistry<Connection>().forObject("rooms/a"),
    store,
    {} as PersistedObject,
  );
  return { sockets, store };
}

Deno.test("accept() lists the socket with its tags, counts it and marks its record for the store", () => {
  const { sockets, store } = setup();
  const a = new Connection();
  const b = new Connection();
  sockets.accept(owner, a, ["red"], CAP, 0);
  sockets.accept(owner, b, undefined, CAP, 0);
  assert.deepEqual(sockets.list(), [a, b]);
  assert.deepEqual(sockets.list("red"), [a]);
  assert.equal(sockets.size, 2);
  assert.equal(sockets.live, 2);
  assert.equal(a.readyState, 1);
  assert.deepEqual(store.calls, [`markSocket:1:${RECORD}`, `markSocket:1:${RECORD}`]);
  assert.throws(() => sockets.accept(owner, a, [], CAP, 0), /already accepted/);
  const plain = new Connection();
  plain.accept();
  assert.throws(() => sockets.accept(owner, plain, [], CAP, 0), TypeError);
  assert.equal(sockets.live, 2);
});

Deno.test("at 32,768 live sockets accept() throws ObjectFullError; a closing socket still counts until gone() frees its slot", () => {
  const { sockets, store } = setup();
  const accepted: Connection[] = [];
  for (let i = 0; i < CAP; i++) {
    const ws = new Connection();
    sockets.accept(owner, ws, [], CAP, 0);
    accepted.push(ws);
  }
  const extra = new Connection();
  assert.throws(
    () => sockets.accept(owner, extra, [], CAP, 0),
    (error: unknown) => error instanceof ObjectFullError && error.limit === CAP,
  );
  assert.equal(extra.readyState, 0, "the refused socket stays unaccepted");
  const first = accepted[0]!;
  sockets.leave(first); // closing: no longer listed, its descriptor not gone yet
  assert.equal(sockets.size, CAP - 1);
  assert.equal(sockets.live, CAP);
  assert.equal(sockets.list()[0], accepted[1]);
  assert.throws(() => sockets.accept(owner, extra, [], CAP, 0), ObjectFullError);
  store.calls.length = 0;
  assert.equal(sockets.gone(first), true);
  assert.equal(sockets.live, CAP - 1);
  assert.deepEqual(store.calls, ["forgetSocket"]);
  sockets.accept(owner, extra, [], CAP, 0);
  assert.equal(sockets.live, CAP);
});

Deno.test("accept()ed sockets are adopted once, counted as plain and never listed; discardPlain() closes them as discarded", () => {
  const { sockets } = setup();
  const ws = new Connection();
  assert.equal(sockets.adopt(owner, ws), false, "not accept()ed");
  ws.accept();
  assert.equal(sockets.adopt(owner, ws), true);
  assert.equal(sockets.adopt(owner, ws), false, "it has an owner already");
  assert.equal(sockets.plain, 1);
  assert.deepEqual(sockets.unlisted(), [ws]);
  assert.deepEqual(sockets.list(), []);
  assert.equal(sockets.live, 0);
  sockets.discardPlain();
  assert.equal(sockets.plain, 0);
  assert.equal(sockets.isDiscarded(ws), true);
  assert.equal(ws.readyState, 2, "closing");
  assert.equal(sockets.gone(ws), false, "no longer counted: its gone() lets nothing hibernate");

  const other = new Connection();
  other.accept();
  sockets.adopt(owner, other);
  assert.equal(sockets.isDiscarded(other), false);
  assert.equal(sockets.gone(other), true);
  assert.equal(sockets.plain, 0);
});

Deno.test("unloadAttachments() drops only the attachments already persisted", () => {
  const { sockets } = setup();
  const clean = new Connection();
  const dirty = new Connection();
  const none = new Connection();
  for (const ws of [clean, dirty, none]) sockets.accept(owner, ws, [], CAP, 0);
  clean.serializeAttachment({ n: 1 });
  dirty.serializeAttachment({ n: 2 });
  dirty[DIRTY] = RECORD; // its write is still pending
  assert.equal(sockets.unloadAttachments(), true);
  assert.throws(() => clean.deserializeAttachment(), /hibernated/);
  assert.deepEqual(dirty.deserializeAttachment(), { n: 2 });
  assert.equal(none.deserializeAttachment(), null);
  assert.equal(sockets.unloadAttachments(), false, "nothing left to drop");
});
