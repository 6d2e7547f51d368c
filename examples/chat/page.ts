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
  // The reconnecting client (@dormant/dormant/client), served by the app.
  import { connect } from "/client.js";
  const $ = (id) => document.getElementById(id);
  const MAX_NAME = 32; // code points, as the server counts them
  const ERRORS = {
    message_too_long: "Message not sent: it is longer than 2,000 characters.",
    message_empty: "Message not sent: it is empty.",
  };

  // The one place the page opens its connection: a WebSocket-like object (send, close,
  // readyState, status; open/message/close/statuschange events) that reconnects by itself
  // and resumes its session: what was said while it was away arrives, once, in order.
  function openSocket(url) {
    return connect(url);
  }

  let socket = null;
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
    conn.addEventListener("open", (event) => {
      if (socket !== conn) return;
      // Resumed: the missed messages (member changes included) follow, so the list is current.
      if (event.resumed) $("members").classList.remove("stale");
      $("text").focus();
    });
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
  // Leaving the page ends the session (a dropped connection would be kept for its return).
  addEventListener("pagehide", () => socket?.close(1000, "left the page"));
  addEventListener("pageshow", (event) => event.persisted && location.reload()); // back from bfcache
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
