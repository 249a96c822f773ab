// The showcase page: notes over the JSON API, uploads to storage, a clock over SSE, a WebSocket chat.
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

const uploads = document.getElementById("uploads");
document.getElementById("upload-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/api/uploads", { method: "POST", body: new FormData(event.target) });
  const payload = await response.json();
  if (!response.ok) { alert(payload.detail || payload.title); return; }
  const link = document.createElement("a");
  link.href = payload.url;  // signed, valid for an hour
  link.textContent = `${payload.name} (${payload.size} bytes)`;
  const item = document.createElement("li");
  item.append(link);
  uploads.append(item);
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
