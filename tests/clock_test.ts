import assert from "node:assert/strict";
import { systemClock } from "../src/clock.ts";

const CLOCK = new URL("../src/clock.ts", import.meta.url).href;

Deno.test("a pending systemClock timer does not keep the process alive; one with keepAlive does", async () => {
  const script = `
    import { systemClock } from ${JSON.stringify(CLOCK)};
    systemClock.setTimeout(() => console.log("background fired"), 60_000);
    systemClock.setTimeout(() => console.log("kept alive"), 20, { keepAlive: true });
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", script],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Bounded: a process still waiting for the one-minute timer is killed (only this child).
  const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    const { code, stdout, stderr } = await child.output();
    assert.equal(new TextDecoder().decode(stderr), "");
    assert.equal(code, 0, "exited by itself");
    assert.equal(new TextDecoder().decode(stdout), "kept alive\n");
  } finally {
    clearTimeout(guard);
  }
});

Deno.test("systemClock fires an unreferenced timer while the process is alive, and clearTimeout cancels one", async () => {
  const fired: string[] = [];
  const done = Promise.withResolvers<void>();
  const cancelled = systemClock.setTimeout(() => fired.push("cancelled"), 5);
  systemClock.setTimeout(() => {
    fired.push("background");
    done.resolve();
  }, 10);
  systemClock.clearTimeout(cancelled);
  // The test's own referenced timer keeps the process alive meanwhile.
  const hold = setTimeout(() => {}, 60_000);
  try {
    await done.promise;
  } finally {
    clearTimeout(hold);
  }
  assert.deepEqual(fired, ["background"]);
});
