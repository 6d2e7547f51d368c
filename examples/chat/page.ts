/** The chat's single web page. */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dormant chat</title>
<link rel="icon" href="data:,">
<style>
  :root { font-family: system-ui, sans-serif; color-scheme: light dark; --dim: #8889; }
  body { max-width: 56rem; margin: 1.5rem auto; padding: 0 1rem; }
  h1 { margin: 0 0 .5rem; font-size: 1.5rem; }
  h2 { margin: 0 0 .4rem; font-size: 1rem; }
  form { display: flex; gap: .5rem; margin: .5rem 0; align-items: center; flex-wrap: wrap; }
  label { display: flex; gap: .4rem; align-items: center; }
  input { flex: 1; min-width: 0; padding: .45rem .6rem; font: inherit; }
  #send input { min-width: 12rem; }
  button { padding: .45rem .9rem; font: inherit; cursor: pointer; }
  .room { display: grid; grid-template-columns: 1fr 12rem; gap: .75rem; }
  @media (max-width: 40rem) { .room { grid-template-columns: 1fr; } }
  #log, #members { list-style: none; padding: .5rem; margin: 0; border: 1px solid var(--dim);
         border-radius: .4rem; overflow-y: auto; }
  #log { height: 55vh; }
  #members { max-height: 55vh; }
  #log li { padding: .2rem .3rem; overflow-wrap: anywhere; border-radius: .3rem; }
  #log li.mine { background: #4a90e21f; }
  time { color: var(--dim); font-size: .8rem; margin-right: .4rem; font-variant-numeric: tabular-nums; }
  .from { font-weight: 600; margin-right: .4rem; }
  .tag { color: var(--dim); font-weight: normal; font-size: .8rem; margin-left: .15rem; }
  .you { color: #4a90e2; font-weight: normal; font-size: .8rem; margin-left: .25rem; }
  .note { color: var(--dim); font-style: italic; }
  .notice { background: #e2a64a26; font-weight: 600; }
  .error { color: #c33; }
  #status { color: var(--dim); font-size: .9rem; overflow-wrap: anywhere; margin: .25rem 0; }
  #status.ok { color: #2a8a4a; }
  #status.wait { color: #b7791f; }
  #members.stale { opacity: .45; }
  #status.error { color: #c33; }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
</style>
</head>
<body>
<h1>Dormant chat</h1>
<form id="join">
  <label>Room <input id="room" value="lobby" required maxlength="64"></label>
  <label>Nickname <input id="name" required maxlength="32" autocomplete="nickname"></label>
  <button>Join</button>
</form>
<p id="status" role="status">Not connected.</p>
<div class="room">
  <ol id="log" aria-live="polite" aria-label="Messages"></ol>
  <section aria-labelledby="membersTitle">
    <h2 id="membersTitle">In the room <span id="count"></span></h2>
    <ul id="members" aria-live="polite"></ul>
  </section>
</div>
<form id="send">
  <label for="text" class="sr-only">Message</label>
  <input id="text" placeholder="Message" maxlength="2000" autocomplete="off" disabled>
  <button id="sendButton" disabled>Send</button>
</form>
<script type="module">
  const $ = (id) => document.getElementById(id);
  const MAX_NAME = 32; // code points, as the server counts them
  // The server answers the bare text "ping" itself (keep-alive auto-response, the room
  // stays asleep). Chat lines are sent as JSON, so a typed "ping" is a chat line.
  const KEEPALIVE = "ping";
  const ERRORS = {
    message_too_long: "Message not sent: it is longer than 2,000 characters.",
    message_empty: "Message not sent: it is empty.",
  };

  // A WebSocket that reconnects by itself with jittered exponential backoff (0.25 s
  // doubling to 5 s): "open", "message" and "close" fire for every connection, and
  // "statuschange" when status moves between connecting, open, reconnecting and closed.
  // Close codes that mean "do not retry": the server ended it or refused for good.
  const FINAL = new Set([1000, 1002, 1003, 1007, 1008, 1009, 1010]);
  class ReconnectingSocket extends EventTarget {
    #url; #ws = null; #attempts = 0; #timer = 0; #status = "connecting";
    constructor(url) { super(); this.#url = url; this.#dial(); }
    get status() { return this.#status; }
    get readyState() { return this.#status === "open" ? 1 : this.#status === "closed" ? 3 : 0; }
    send(data) { if (this.#status === "open") this.#ws.send(data); }
    close(code, reason) {
      clearTimeout(this.#timer);
      this.#ws?.close(code, reason);
      this.#ws = null;
      this.#set("closed");
    }
    #set(status) {
      if (this.#status === status) return;
      this.#status = status;
      this.dispatchEvent(new Event("statuschange"));
    }
    #dial() {
      const ws = this.#ws = new WebSocket(this.#url);
      ws.onopen = () => {
        this.#attempts = 0;
        this.#set("open");
        this.dispatchEvent(new Event("open"));
      };
      ws.onmessage = (e) => this.dispatchEvent(new MessageEvent("message", { data: e.data }));
      ws.onclose = (e) => {
        if (this.#ws !== ws) return;
        this.#ws = null;
        const { code, reason, wasClean } = e;
        this.dispatchEvent(new CloseEvent("close", { code, reason, wasClean }));
        if (FINAL.has(code) || (code >= 4400 && code < 4500)) return this.#set("closed");
        this.#set("reconnecting");
        const delay = Math.min(5000, 250 * 2 ** this.#attempts++) * (0.5 + Math.random() / 2);
        this.#timer = setTimeout(() => this.#dial(), delay);
      };
    }
  }

  // The one place the page opens its connection: a WebSocket-like object (send, close,
  // readyState, status; open/message/close/statuschange events) that reconnects by itself.
  function openSocket(url) {
    return new ReconnectingSocket(url);
  }

  let socket = null;
  let pinger = 0;
  let lastSeq = 0; // the newest line shown: lines sent again after a reconnect are skipped
  let mine = new Set(); // the ids this tab had: its own lines, across reconnects and reloads

  function save(room, name) {
    sessionStorage.setItem("chat", JSON.stringify({ room, name, mine: [...mine].slice(-50) }));
  }
  function stamp(at) {
    const time = document.createElement("time");
    if (typeof at !== "number") return time;
    const date = new Date(at);
    time.dateTime = date.toISOString();
    time.title = date.toLocaleString();
    time.textContent = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    return time;
  }
  function who(user) {
    const span = document.createElement("span");
    span.className = "from";
    span.append(user.name);
    const tag = document.createElement("small");
    tag.className = "tag";
    tag.textContent = "#" + user.id; // tells apart two people with the same nickname
    span.append(tag);
    if (mine.has(user.id)) {
      const you = document.createElement("small");
      you.className = "you";
      you.textContent = "(you)";
      span.append(you);
    }
    return span;
  }
  function add(at, parts, cls) {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    li.append(stamp(at), ...parts); // strings become text nodes: nothing is parsed as HTML
    $("log").append(li);
    $("log").scrollTop = $("log").scrollHeight;
  }
  function line(m) {
    if (m.seq <= lastSeq) return;
    lastSeq = m.seq;
    add(m.at, [who({ id: m.id, name: m.from }), m.text], mine.has(m.id) ? "mine" : "");
  }
  function members(users) {
    $("members").replaceChildren(...users.map((user) => {
      const li = document.createElement("li");
      li.append(who(user));
      return li;
    }));
    $("members").classList.remove("stale");
    $("count").textContent = users.length ? "(" + users.length + ")" : "";
  }
  function status(text, cls = "", canSend = false) {
    $("text").disabled = !canSend;
    $("sendButton").disabled = !canSend;
    $("status").textContent = text;
    $("status").className = cls;
  }
  function join(room, name) {
    socket?.close(1000, "switching room");
    socket = null;
    clearInterval(pinger);
    lastSeq = 0;
    $("log").replaceChildren();
    members([]);
    if (!room) return status("Enter a room name.", "error");
    const length = [...name].length;
    if (length < 1 || length > MAX_NAME) {
      return status("Enter a nickname of 1 to " + MAX_NAME + " characters.", "error");
    }
    save(room, name);
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const conn = openSocket(
      scheme + "://" + location.host + "/rooms/" + encodeURIComponent(room) + "/ws?name=" +
        encodeURIComponent(name),
    );
    socket = conn;
    status("Connecting…");
    conn.addEventListener("open", () => socket === conn && $("text").focus());
    let closing = null; // the last close event, to say why a closed connection ended
    conn.addEventListener("close", (event) => { closing = event; });
    conn.addEventListener("statuschange", () => {
      if (socket !== conn) return;
      if (conn.status === "open") status("Connected to " + room + " as " + name + ".", "ok", true);
      else if (conn.status === "connecting") status("Connecting…");
      else {
        $("members").classList.add("stale"); // until the server sends the list again
        if (conn.status === "reconnecting") status("Reconnecting…", "wait");
        else status("Disconnected" + (closing?.reason ? ": " + closing.reason : "") + ".", "error");
      }
    });
    conn.addEventListener("message", (event) => {
      if (socket !== conn || event.data === "pong") return;
      const msg = JSON.parse(event.data);
      if (msg.type === "welcome") {
        mine.add(msg.you.id);
        save(room, name);
      } else if (msg.type === "history") {
        const newest = msg.messages.at(-1)?.seq ?? 0;
        if (newest < lastSeq) { // the room forgot its history while this tab was away
          lastSeq = 0;
          $("log").replaceChildren();
        }
        for (const m of msg.messages) line(m);
      } else if (msg.type === "message") line(msg);
      else if (msg.type === "presence") members(msg.users);
      else if (msg.type === "joined") add(msg.at, [who(msg.user), " joined"], "note");
      else if (msg.type === "left") add(msg.at, [who(msg.user), " left"], "note");
      else if (msg.type === "announcement") add(msg.at, ["Announcement: " + msg.text], "notice");
      else if (msg.type === "error") add(undefined, [ERRORS[msg.code] ?? "Error: " + msg.code], "error");
    });
    // Keep-alive answered by the server's auto-response, without waking the room.
    pinger = setInterval(() => conn.readyState === 1 && conn.send(KEEPALIVE), 20000);
  }
  $("join").addEventListener("submit", (event) => {
    event.preventDefault();
    join($("room").value.trim(), $("name").value.trim());
  });
  $("send").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (!text || !socket || socket.readyState !== 1) return;
    socket.send(JSON.stringify({ type: "message", text }));
    $("text").value = "";
  });
  // After a reload, rejoin the room this tab was in: its history comes back.
  try {
    const saved = JSON.parse(sessionStorage.getItem("chat") ?? "null");
    if (saved && typeof saved.room === "string" && typeof saved.name === "string") {
      mine = new Set(Array.isArray(saved.mine) ? saved.mine : []);
      $("room").value = saved.room;
      $("name").value = saved.name;
      join(saved.room, saved.name);
    }
  } catch {
    sessionStorage.removeItem("chat");
  }
</script>
</body>
</html>
`;
