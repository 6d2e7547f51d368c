/** The chat's single web page. */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dormant chat</title>
<link rel="icon" href="data:,">
<style>
  :root { font-family: system-ui, sans-serif; color-scheme: light dark; }
  body { max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
  form { display: flex; gap: .5rem; margin: .5rem 0; }
  input { flex: 1; min-width: 0; padding: .45rem .6rem; font: inherit; }
  button { padding: .45rem .9rem; font: inherit; cursor: pointer; }
  #log { list-style: none; padding: .5rem; margin: 0; height: 55vh; overflow-y: auto;
         border: 1px solid #8884; border-radius: .4rem; }
  #log li { padding: .15rem 0; overflow-wrap: anywhere; }
  .from { font-weight: 600; margin-right: .4rem; }
  .note { color: #888; font-style: italic; }
  .error { color: #c33; }
  #status { color: #888; font-size: .9rem; overflow-wrap: anywhere; }
  #status.error { color: #c33; }
</style>
</head>
<body>
<h1>Dormant chat</h1>
<form id="join">
  <input id="room" placeholder="room" value="lobby" required maxlength="64" aria-label="room">
  <input id="name" placeholder="nickname" required maxlength="32" aria-label="nickname">
  <button>Join</button>
</form>
<p id="status">Not connected.</p>
<ul id="log" aria-live="polite"></ul>
<form id="send">
  <input id="text" placeholder="message" maxlength="2000" autocomplete="off" aria-label="message" disabled>
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
  let socket = null;
  let pinger = 0;
  function add(parts, cls) {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    li.append(...parts); // strings become text nodes: nothing is parsed as HTML
    $("log").append(li);
    $("log").scrollTop = $("log").scrollHeight;
  }
  function line(from, text) {
    const who = document.createElement("span");
    who.className = "from";
    who.textContent = from;
    add([who, text]);
  }
  function setConnected(on, text, isError = false) {
    $("text").disabled = !on;
    $("sendButton").disabled = !on;
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  }
  function join(room, name) {
    socket?.close(1000, "switching room");
    socket = null;
    clearInterval(pinger);
    $("log").replaceChildren();
    if (!room) return setConnected(false, "Enter a room name.", true);
    const length = [...name].length;
    if (length < 1 || length > MAX_NAME) {
      return setConnected(false, "Enter a nickname of 1 to " + MAX_NAME + " characters.", true);
    }
    sessionStorage.setItem("chat", JSON.stringify({ room, name }));
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(
      scheme + "://" + location.host + "/rooms/" + encodeURIComponent(room) + "/ws?name=" +
        encodeURIComponent(name),
    );
    socket = ws;
    let opened = false;
    setConnected(false, "Connecting…");
    ws.onopen = () => {
      opened = true;
      setConnected(true, "Connected to " + room + " as " + name + ".");
      $("text").focus();
      // Keep-alive answered by the server's auto-response, without waking the room.
      pinger = setInterval(() => ws.readyState === 1 && ws.send(KEEPALIVE), 20000);
    };
    ws.onmessage = (event) => {
      if (socket !== ws || event.data === "pong") return;
      const msg = JSON.parse(event.data);
      if (msg.type === "history") for (const m of msg.messages) line(m.from, m.text);
      else if (msg.type === "message") line(msg.from, msg.text);
      else if (msg.type === "joined") add([msg.name + " joined"], "note");
      else if (msg.type === "left") add([msg.name + " left"], "note");
      else if (msg.type === "announcement") add(["Announcement: " + msg.text], "note");
      else if (msg.type === "error") add([ERRORS[msg.code] ?? "Error: " + msg.code], "error");
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      clearInterval(pinger);
      if (opened) setConnected(false, "Disconnected (" + event.code + "). Join again to reconnect.");
      else setConnected(false, "Could not join: the server refused or is not reachable.", true);
    };
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
