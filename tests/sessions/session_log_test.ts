import assert from "node:assert/strict";
import { ManualClock } from "../../src/testing/mod.ts";
import { Connection } from "../../src/sockets/connection.ts";
import { Session } from "../../src/sessions/session.ts";
import {
  type AfterCommit,
  inRanges,
  type Mutation,
  PendingEntry,
  SessionLog,
} from "../../src/sessions/session_log.ts";
import { SESSION_DEFAULTS } from "../../src/sessions/session_options.ts";

function makeLog(settings = SESSION_DEFAULTS) {
  const scheduled: SessionLog[] = [];
  const log = new SessionLog(
    { settings, clock: new ManualClock(0), schedule: (l) => void scheduled.push(l) },
    "room",
    "ab".repeat(32),
    "lobby",
  );
  const sessions = [1, 2, 3, 4].map((no) => {
    const session = new Session(log, no, `h${no}`, new Connection(), log.nextPos);
    log.add(session);
    return session;
  });
  return { log, sessions, scheduled };
}

function collect(log: SessionLog, now = 0) {
  const sets: Mutation[] = [];
  const deletes: Mutation[] = [];
  const after: AfterCommit[] = [];
  log.collect(now, sets, deletes, after);
  return { sets, deletes, after };
}

Deno.test("the same text sent to sessions in a row is one entry; a session getting it twice makes a second one", () => {
  const { log, sessions: [a, b, c], scheduled } = makeLog();
  a!.send("x");
  b!.send("x");
  c!.send("x");
  a!.send("x");
  b!.send("y");
  assert.equal(scheduled.length, 1);
  const { sets, after } = collect(log);
  const entries = sets.filter((m) => m.key[1] === "rl").map((m) =>
    m.value as { r: number[]; p: string }
  );
  assert.deepEqual(entries.map((e) => [e.p, e.r]), [["x", [1, 3]], ["x", [1, 1]], ["y", [2, 2]]]);
  assert.equal(after.length, 3);
  assert.deepEqual([a!.seq, b!.seq, c!.seq], [2, 2, 1]);
});

Deno.test("ranges: a recipient that follows the last one extends it, any other starts a new range", () => {
  const { sessions: [a, b, , d] } = makeLog();
  const entry = new PendingEntry("p");
  entry.add(a!, 1);
  entry.add(b!, 1);
  entry.add(d!, 1);
  assert.deepEqual(entry.ranges, [1, 2, 4, 4]);
  assert.equal(inRanges(entry.ranges, 2), true);
  assert.equal(inRanges(entry.ranges, 3), false);
});

Deno.test("a payload over one KV value is stored in parts after its entry", () => {
  const { log, sessions: [a] } = makeLog();
  a!.send("z".repeat(40_000));
  const { sets } = collect(log);
  const keys = sets.filter((m) => m.key[1] === "rl").map((m) => m.key.slice(4));
  assert.deepEqual(keys, [[1], [1, 1], [1, 2]]);
});

Deno.test("past maxMessages the oldest entries go down to 7/8 of it; their recipients' bases move in the same commit", () => {
  const { log, sessions: [a, b] } = makeLog({ ...SESSION_DEFAULTS, maxMessages: 8 });
  for (let i = 0; i < 9; i++) a!.send(`m${i}`);
  b!.send("other");
  const { sets, deletes } = collect(log);
  assert.equal(deletes.length, 3); // 10 entries → 7
  assert.deepEqual(deletes.map((m) => m.key[4]), [1, 2, 3]);
  assert.deepEqual([a!.basePos, a!.baseSeq], [4, 3]);
  assert.deepEqual([b!.basePos, b!.baseSeq], [1, 0]); // got nothing trimmed
  const record = sets.find((m) => m.key[1] === "rs" && m.key[4] === 1)!.value as { b: number };
  assert.equal(record.b, 4);
});

Deno.test("an ended session's record is deleted; with no session left every entry goes", () => {
  const { log, sessions } = makeLog();
  sessions[0]!.send("m");
  collect(log);
  for (const session of sessions) session.end();
  const { deletes } = collect(log);
  assert.equal(deletes.filter((m) => m.key[1] === "rs").length, 4);
  assert.equal(deletes.filter((m) => m.key[1] === "rl").length, 1);
  assert.equal(log.empty, true);
});
