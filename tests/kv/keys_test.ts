import assert from "node:assert/strict";
import {
  alarmIndexKey,
  bellKey,
  bootLeaseKey,
  bootOfLeaseKey,
  hibernationRoot,
  inboxKey,
  inboxPrefix,
  isObjectId,
  isStorageName,
  KV_MAX_KEY,
  kvKeySize,
  parseAlarmIndexKey,
  parseHibernationKey,
  settingsKey,
  socketRecordKey,
  timestampKey,
} from "../../src/kv/keys.ts";

Deno.test("kvKeySize() measures a key as Deno KV does: one byte over the limit is refused", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const base = ["dormant", "x"];
    const fits = [...base, "a".repeat(KV_MAX_KEY - kvKeySize(base) - 2)];
    assert.equal(kvKeySize(fits), KV_MAX_KEY);
    await kv.set(fits, 1);
    const over = [...base, "a".repeat(KV_MAX_KEY - kvKeySize(base) - 1)];
    assert.equal(kvKeySize(over), KV_MAX_KEY + 1);
    await assert.rejects(kv.set(over, 1), /too large/);
  } finally {
    kv.close();
  }
});

Deno.test("kvKeySize() counts strings in UTF-8, NUL twice, and numbers as 9 bytes", () => {
  const encoder = new TextEncoder();
  for (const text of ["", "abc", "é", "€", "😀", "\0a\0", "\ud800", "x\udc00y"]) {
    const utf8 = encoder.encode(text);
    const nuls = utf8.filter((b) => b === 0).length;
    assert.equal(kvKeySize([text]), 2 + utf8.length + nuls, JSON.stringify(text));
    assert.equal(kvKeySize([utf8]), 2 + utf8.length + nuls, JSON.stringify(text));
  }
  assert.equal(kvKeySize([1.5]), 9);
  assert.equal(kvKeySize([true]), KV_MAX_KEY);
});

Deno.test("hibernation keys are read back by name, not by index", () => {
  const root = hibernationRoot("ROOM", "a".repeat(64));
  assert.deepEqual(root, ["dormant", "h", "ROOM", "a".repeat(64)]);
  assert.deepEqual(parseHibernationKey(socketRecordKey(root, "boot1", "s1")), {
    kind: "ws",
    boot: "boot1",
    sid: "s1",
  });
  assert.deepEqual(parseHibernationKey(timestampKey(root, "boot1", "s1")), {
    kind: "ts",
    boot: "boot1",
    sid: "s1",
  });
  assert.equal(parseHibernationKey(settingsKey(root)).kind, "cfg");
  assert.equal(bootOfLeaseKey(bootLeaseKey("boot1")), "boot1");
});

Deno.test("alarm index keys name their alarm; malformed ones name none", () => {
  const key = alarmIndexKey(1_000, "ROOM", "a".repeat(64));
  assert.deepEqual(parseAlarmIndexKey(key), {
    dueTime: 1_000,
    storageName: "ROOM",
    id: "a".repeat(64),
  });
  assert.equal(parseAlarmIndexKey(["dormant", "ai", "soon", "ROOM", "x"]), null);
});

Deno.test("storage names and ids are checked by one rule each", () => {
  assert.ok(isStorageName("ROOM_1-a"));
  assert.ok(!isStorageName("a b"));
  assert.ok(!isStorageName("x".repeat(65)));
  assert.ok(!isStorageName(""));
  assert.ok(isObjectId("0a".repeat(32)));
  assert.ok(!isObjectId("A".repeat(64)));
  assert.ok(!isObjectId("ab"));
});

Deno.test("transport inbox keys sort under the node's prefix by sender, sequence and chunk", () => {
  assert.deepEqual(inboxPrefix("n1"), ["dormant", "inbox", "n1"]);
  assert.deepEqual(inboxKey("n1", "n2", 7, 0, 2), ["dormant", "inbox", "n1", "n2", 7, 0, 2]);
  assert.deepEqual(bellKey("n1"), ["dormant", "bell", "n1"]);
});
