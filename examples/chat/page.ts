/** The chat's single web page. */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dormant chat</title>
<style>
  :root { font-family: system-ui, sans-serif; color-scheme: light dark; }
  body { max-width: 44rem; margin: 2rem auto; padding: 0 1rem; }
  form { display: flex; gap: .5rem; margin: .5rem 0; }
  input { flex: 1; padding: .45rem .6rem; font: inherit; }
  button { padding: .45rem .9rem; font: inherit; cursor: pointer; }
  #log { list-style: none; padding: .5rem; margin: 0; height: 55vh; overflow-y: auto;
         border: 1px solid #8884; border-radius: .4rem; }
  #log li { padding: .15rem 0; overflow-wrap: anywhere; }
  .from { font-weight: 600; margin-right: .4rem; }
  .note { color: #888; font-style: italic; }
  .error { color: #c33; }
  #status { color: #888; font-size: .9rem; }
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
  let socket = null;
  let pinger = 0;
  function add(html, cls) {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    li.append(...html);
    $("log").append(li);
    $("log").scrollTop = $("log").scrollHeight;
  }
  function line(from, text) {
    const who = document.createElement("span");
    who.className = "from";
    who.textContent = from;
    add([who, document.createTextNode(text)]);
  }
  function setConnected(on, text) {
    $("text").disabled = !on;
    $("sendButton").disabled = !on;
    $("status").textContent = text;
  }
  $("join").addEventListener("submit", (event) => {
    event.preventDefault();
    socket?.close(1000, "switching room");
    clearInterval(pinger);
    $("log").replaceChildren();
    const room = encodeURIComponent($("room").value.trim());
    const name = encodeURIComponent($("name").value.trim());
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(scheme + "://" + location.host + "/rooms/" + room + "/ws?name=" + name);
    socket = ws;
    setConnected(false, "Connecting…");
    ws.onopen = () => {
      setConnected(true, "Connected to " + decodeURIComponent(room) + " as " + decodeURIComponent(name) + ".");
      // Keep-alive answered by the server's auto-response, without waking the room.
      pinger = setInterval(() => ws.readyState === 1 && ws.send("ping"), 20000);
    };
    ws.onmessage = (event) => {
      if (event.data === "pong") return;
      const msg = JSON.parse(event.data);
      if (msg.type === "history") for (const m of msg.messages) line(m.from, m.text);
      else if (msg.type === "message") line(msg.from, msg.text);
      else if (msg.type === "joined") add([msg.name + " joined"], "note");
      else if (msg.type === "left") add([msg.name + " left"], "note");
      else if (msg.type === "error") add(["error: " + msg.code], "error");
    };
    ws.onclose = (event) => {
      if (socket !== ws) return;
      clearInterval(pinger);
      setConnected(false, "Disconnected (" + event.code + "). Join again to reconnect.");
    };
  });
  $("send").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value;
    if (!text || !socket || socket.readyState !== 1) return;
    socket.send(text);
    $("text").value = "";
  });
</script>
</body>
</html>
`;
