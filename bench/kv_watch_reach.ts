/**
 * Where Deno KV's `watch` sees writes made elsewhere, on one local SQLite file:
 * the same handle, two handles in one process, two Workers of one process (the
 * isolates of `deno serve --parallel`), and two processes. Each case writes a
 * key 5 times, 100 ms apart, and counts the changes a watcher saw within 1 s
 * after the last write.
 *
 *   deno run --allow-all --unstable-kv bench/kv_watch_reach.ts
 */

const dir = await Deno.makeTempDir();
const path = `${dir}/kv.sqlite3`;
const KEY = ["bell"];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function watchCount(kv: Deno.Kv, write: () => Promise<void>): Promise<number> {
  const reader = kv.watch([KEY]).getReader();
  await reader.read(); // the current value
  let seen = 0;
  const counting = (async () => {
    while (!(await reader.read()).done) seen++;
  })();
  await write();
  await sleep(1000);
  await reader.cancel();
  await counting;
  return seen;
}

async function writes(kv: Deno.Kv): Promise<void> {
  for (let i = 1; i <= 5; i++) {
    await kv.set(KEY, i);
    await sleep(100);
  }
}

const WRITER = `
const kv = await Deno.openKv(Deno.args[0]);
for (let i = 1; i <= 5; i++) { await kv.set(["bell"], 100 + i); await new Promise((r) => setTimeout(r, 100)); }
kv.close();
if (typeof postMessage === "function") postMessage("done");`;

const results: Array<[string, number]> = [];
{
  const kv = await Deno.openKv(path);
  results.push(["same handle", await watchCount(kv, () => writes(kv))]);
  const other = await Deno.openKv(path);
  results.push(["two handles, one process", await watchCount(kv, () => writes(other))]);
  other.close();
  const url = `data:application/typescript,${
    encodeURIComponent(WRITER.replace("Deno.args[0]", JSON.stringify(path)))
  }`;
  results.push([
    "two isolates, one process (Worker)",
    await watchCount(kv, async () => {
      const worker = new Worker(url, { type: "module" });
      await new Promise((r) => (worker.onmessage = r));
      worker.terminate();
    }),
  ]);
  results.push([
    "two processes",
    await watchCount(kv, async () => {
      await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--unstable-kv", WRITER, path],
      }).output();
      const last = await kv.get(KEY);
      if (last.value !== 105) throw new Error(`the other process did not write: ${last.value}`);
    }),
  ]);
  kv.close();
}
await Deno.remove(dir, { recursive: true });
console.log(`Deno ${Deno.version.deno}: changes seen by watch (of 5 writes)`);
for (const [name, seen] of results) console.log(`| ${name} | ${seen} |`);
