import assert from "node:assert/strict";
import { Connection } from "../../src/sockets/connection.ts";
import {
  ATTACHED,
  DETACHED,
  ENDED,
  type Payload,
  RESUMING,
  Session,
  type SessionLogOwner,
} from "../../src/sessions/session.ts";
import { DETACH_CLOSE } from "../../src/sessions/resume_protocol.ts";

function fakeLog() {
  const events: string[] = [];
  const appended: Payload[] = [];
  const log: SessionLogOwner = {
    append: (_session, payload) => void appended.push(payload),
    detached: () => void events.push("detached"),
    markRecord: () => void events.push("record"),
    ended: () => void events.push("ended"),
  };
  return { log, events, appended };
}

Deno.test("a session keeps its socket on a dropped connection (1006) or the client's detach code, and ends on any other close", () => {
  for (const [code, kept] of [[1006, true], [DETACH_CLOSE, true], [1000, false], [1001, false]]) {
    const { log, events } = fakeLog();
    const session = new Session(log, 1, "h", new Connection(), 1);
    assert.equal(session.dropped(code as number), kept, String(code));
    assert.equal(session.state, kept ? DETACHED : ATTACHED);
    assert.deepEqual(events, kept ? ["detached"] : []);
  }
});

Deno.test("a session's sends are logged as text or a private copy of the bytes", () => {
  const { log, appended } = fakeLog();
  const session = new Session(log, 1, "h", new Connection(), 1);
  const bytes = new Uint8Array([1, 2, 3, 4]);
  session.send("text");
  session.send(bytes.subarray(1, 3));
  bytes[1] = 9;
  assert.equal(appended[0], "text");
  assert.deepEqual([...(appended[1] as Uint8Array)], [2, 3]);
});

Deno.test("while resuming, released messages after the snapshot are held in order; ended is reported once", () => {
  const { log, events } = fakeLog();
  const session = new Session(log, 1, "h", new Connection(), 1);
  session.state = RESUMING;
  session.snapshot = 5;
  session.released("old", 5);
  session.released("new", 6);
  assert.deepEqual(session.held, ["new"]);
  session.end();
  session.end();
  assert.equal(session.state, ENDED);
  assert.deepEqual(events, ["ended"]);
  session.changed();
  assert.deepEqual(events, ["ended"]);
});
