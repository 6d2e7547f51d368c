import assert from "node:assert/strict";
import { currentPid, granted, machineId, processAlive } from "../../src/kv/process_info.ts";

const MODULE = new URL("../../src/kv/process_info.ts", import.meta.url).href;

Deno.test("with read permission the facts are read: this boot's id, this process alive, an exited one not", async () => {
  assert.equal(currentPid(), Deno.pid);
  assert.equal(granted({ name: "read", path: "/proc" }), true);
  const boot = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  assert.equal(machineId(), boot);
  assert.equal(processAlive(currentPid()), true);

  const child = new Deno.Command(Deno.execPath(), { args: ["--version"], stdout: "null" }).spawn();
  await child.status;
  assert.equal(processAlive(child.pid), false);
});

Deno.test("without read permission the facts are unknown (null), and nothing prompts or throws", async () => {
  const script = `
    import { granted, machineId, processAlive } from ${JSON.stringify(MODULE)};
    console.log(JSON.stringify([granted({ name: "read", path: "/proc" }), machineId(), processAlive(Deno.pid)]));
  `;
  const dir = await Deno.makeTempDir({ prefix: "dormant-process-info-" });
  try {
    await Deno.writeTextFile(`${dir}/main.ts`, script);
    // `deno run` without --allow-read: the module must not ask for it.
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-config", `${dir}/main.ts`],
      stdin: "null",
    }).output();
    assert.equal(new TextDecoder().decode(stderr), "");
    assert.equal(code, 0);
    assert.equal(new TextDecoder().decode(stdout), "[false,null,null]\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
