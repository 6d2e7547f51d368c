/**
 * A headless Chromium driven over the Chrome DevTools Protocol (one WebSocket,
 * no dependency). `launchBrowser()` starts `chromium` with a temporary profile;
 * `browser.newPage()` opens a page in its own browser context (own cookies and
 * storage: another person); dispose the browser with `await using`: it is
 * closed, its process waited for (killed by PID if it lingers) and its profile
 * directory removed.
 */

/** The browser binary: `$CHROMIUM`, else the first of these on PATH. */
const CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

const LISTENING = /DevTools listening on (ws:\/\/\S+)/;

type Json = Record<string, unknown>;

/** A page of the browser. */
export interface BrowserPage {
  /** Uncaught exceptions and `console.error` texts seen in the page. */
  readonly errors: string[];
  /** Navigates and waits for the page's load event. */
  goto(url: string): Promise<void>;
  /** The value of `expression` (awaited, returned by value). */
  evaluate<T>(expression: string): Promise<T>;
  /** Waits until `expression` is truthy, polling (bounded); returns its value. */
  waitFor<T>(expression: string, what: string, timeoutMs?: number): Promise<T>;
  /** Focuses `selector`, clears it and types `text` as keyboard input. */
  type(selector: string, text: string): Promise<void>;
  /** Clicks the element (`element.click()`). */
  click(selector: string): Promise<void>;
  /** A PNG of the viewport (to look at a page while debugging a test). */
  screenshot(): Promise<Uint8Array>;
}

/** A running Chromium. */
export interface Browser {
  newPage(): Promise<BrowserPage>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Finds the browser binary, or throws saying how to install it. */
async function findChromium(): Promise<string> {
  const explicit = Deno.env.get("CHROMIUM");
  if (explicit) return explicit;
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of CANDIDATES) {
      try {
        const path = `${dir}/${name}`;
        if ((await Deno.stat(path)).isFile) return path;
      } catch { /* not here */ }
    }
  }
  throw new Error(
    "Cannot run the browser tests as no Chromium was found: install it (apt-get install -y chromium) or set CHROMIUM to its path",
  );
}

/** Starts a headless Chromium with a temporary profile. */
export async function launchBrowser(): Promise<Browser> {
  const binary = await findChromium();
  const profile = await Deno.makeTempDir({ prefix: "dormant-chromium-" });
  const child = new Deno.Command(binary, {
    args: [
      "--headless=new",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "--no-sandbox", // runs as root in CI containers
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let stderr = "";
  // Bounded: a browser not listening 20 s after it started is killed (this PID only).
  const guard = setTimeout(() => child.kill("SIGKILL"), 20_000);
  try {
    while (!LISTENING.test(stderr)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Chromium exited before listening: ${stderr}`);
      stderr += value;
    }
    clearTimeout(guard);
  } catch (error) {
    clearTimeout(guard);
    child.kill("SIGKILL");
    await reader.cancel().catch(() => {});
    await child.status;
    await Deno.remove(profile, { recursive: true });
    throw error;
  }
  // Chromium keeps logging to stderr: drain it so it never blocks on a full pipe.
  const drained = (async () => {
    for (;;) {
      const { done } = await reader.read();
      if (done) return;
    }
  })();
  const cdp = await Cdp.open(LISTENING.exec(stderr)![1]!);
  return {
    async newPage() {
      const { browserContextId } = await cdp.send("Target.createBrowserContext");
      const { targetId } = await cdp.send("Target.createTarget", {
        url: "about:blank",
        browserContextId,
      });
      const { sessionId } = await cdp.send("Target.attachToTarget", { targetId, flatten: true });
      const page = new Page(cdp, sessionId as string);
      await page.start();
      return page;
    },
    async [Symbol.asyncDispose]() {
      await cdp.send("Browser.close").catch(() => {});
      await cdp.close();
      // Bounded: a browser still running 5 s after Browser.close is killed (this PID only).
      const guard = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await child.status;
      clearTimeout(guard);
      await drained;
      await Deno.remove(profile, { recursive: true });
    },
  };
}

/** One DevTools connection: commands get ids, replies settle them, events go to listeners. */
class Cdp {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve(v: Json): void; reject(e: Error): void }>();
  #listeners = new Set<(method: string, params: Json, sessionId?: string) => void>();
  #closed: Promise<void>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    this.#closed = new Promise((resolve) => ws.addEventListener("close", () => resolve()));
    ws.addEventListener("message", (event) => {
      const frame = JSON.parse(event.data as string);
      if (frame.id !== undefined) {
        const pending = this.#pending.get(frame.id);
        this.#pending.delete(frame.id);
        if (frame.error) pending?.reject(new Error(`${frame.error.message} (${frame.error.code})`));
        else pending?.resolve(frame.result);
      } else {
        for (const listener of this.#listeners) {
          listener(frame.method, frame.params, frame.sessionId);
        }
      }
    });
    ws.addEventListener("close", () => {
      for (const { reject } of this.#pending.values()) {
        reject(new Error("DevTools connection closed"));
      }
      this.#pending.clear();
    });
  }

  static async open(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      ws.addEventListener("error", () => reject(new Error(`Cannot reach DevTools at ${url}`)), {
        once: true,
      });
    });
    return new Cdp(ws);
  }

  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  on(listener: (method: string, params: Json, sessionId?: string) => void): void {
    this.#listeners.add(listener);
  }

  async close(): Promise<void> {
    if (this.#ws.readyState !== WebSocket.CLOSED) this.#ws.close();
    await this.#closed;
  }
}

class Page implements BrowserPage {
  readonly errors: string[] = [];
  #cdp: Cdp;
  #session: string;
  #loaded: Array<() => void> = [];

  constructor(cdp: Cdp, session: string) {
    this.#cdp = cdp;
    this.#session = session;
    cdp.on((method, params, sessionId) => {
      if (sessionId !== this.#session) return;
      if (method === "Page.loadEventFired") { for (const done of this.#loaded.splice(0)) done(); }
      if (method === "Runtime.exceptionThrown") {
        const details = params.exceptionDetails as {
          text: string;
          exception?: { description?: string };
        };
        this.errors.push(details.exception?.description ?? details.text);
      }
      if (method === "Runtime.consoleAPICalled" && params.type === "error") {
        const args = params.args as Array<{ value?: unknown; description?: string }>;
        this.errors.push(args.map((a) => a.value ?? a.description).join(" "));
      }
    });
  }

  async start(): Promise<void> {
    await this.#send("Page.enable");
    await this.#send("Runtime.enable");
  }

  async goto(url: string): Promise<void> {
    const loaded = new Promise<void>((resolve) => this.#loaded.push(resolve));
    const { errorText } = await this.#send("Page.navigate", { url });
    if (errorText) throw new Error(`Cannot open ${url}: ${errorText}`);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Timed out loading ${url}`)), 10_000);
    });
    try {
      await Promise.race([loaded, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async evaluate<T>(expression: string): Promise<T> {
    const { result, exceptionDetails } = await this.#send("Runtime.evaluate", {
      expression,
      awaitPromise: true,
      returnByValue: true,
    }) as { result: { value: T }; exceptionDetails?: { text: string; exception?: Json } };
    if (exceptionDetails) {
      const description = exceptionDetails.exception?.description ?? exceptionDetails.text;
      throw new Error(`${expression} threw: ${description}`);
    }
    return result.value;
  }

  async waitFor<T>(expression: string, what: string, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await this.evaluate<T>(expression);
      if (value) return value;
      if (Date.now() > deadline) {
        throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  async type(selector: string, text: string): Promise<void> {
    await this.evaluate(
      `(() => { const el = document.querySelector(${
        JSON.stringify(selector)
      }); el.focus(); el.value = ""; })()`,
    );
    await this.#send("Input.insertText", { text });
  }

  async click(selector: string): Promise<void> {
    await this.evaluate(`document.querySelector(${JSON.stringify(selector)}).click()`);
  }

  async screenshot(): Promise<Uint8Array> {
    const { data } = await this.#send("Page.captureScreenshot", { format: "png" });
    return Uint8Array.from(atob(data as string), (c) => c.charCodeAt(0));
  }

  #send(method: string, params: Json = {}): Promise<Json> {
    return this.#cdp.send(method, params, this.#session);
  }
}
