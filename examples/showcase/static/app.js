// The showcase page: create notes over the JSON API, a live clock over SSE, a chat over WebSocket.
const notes = document.getElementById("notes");
document.getElementById("note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const response = await fetch("/api/notes", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: form.get("title"), body: form.get("body") }),
  });
  const payload = await response.json();
  if (!response.ok) { alert(payload.detail || payload.title); return; }
  const item = document.createElement("li");
  const strong = document.createElement("strong");
  strong.textContent = payload.title;
  item.append(strong, " " + payload.body);
  notes.append(item);
  event.target.reset();
});

const clock = document.getElementById("clock");
new EventSource("/events/clock").addEventListener("tick", (event) => {
  clock.textContent = new Date(JSON.parse(event.data).now * 1000).toLocaleTimeString();
});

const messages = document.getElementById("messages");
const scheme = location.protocol === "https:" ? "wss" : "ws";
const socket = new WebSocket(`${scheme}://${location.host}/ws/chat/lobby`);
socket.addEventListener("message", (event) => {
  const item = document.createElement("li");
  item.textContent = event.data;
  messages.append(item);
});
document.getElementById("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = event.target.elements.message;
  if (input.value) socket.send(input.value);
  input.value = "";
});
