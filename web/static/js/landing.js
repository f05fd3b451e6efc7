// The landing page: pick or make up a room, and open its whiteboard, its
// viewer or its draw-and-guess game. Recent rooms come from localStorage.
import { $, validRoom, savedName, saveName, recentRooms, forgetRoom } from "./common.js";

const WORDS = ["amber", "brisk", "cedar", "delta", "ember", "fable", "gusty", "hazel", "indigo", "jolly", "koala", "lunar", "maple", "noble", "olive", "pixel", "quartz", "rapid", "sable", "tidal"];

function randomRoom() {
  const b = new Uint32Array(3);
  crypto.getRandomValues(b);
  return `${WORDS[b[0] % WORDS.length]}-${WORDS[b[1] % WORDS.length]}-${(b[2] % 900) + 100}`;
}

function go(kind) {
  const room = $("room").value.trim();
  const err = $("roomError");
  if (!validRoom(room)) {
    err.textContent = room ? "That name has characters a room cannot use." : "Type a room name, or pick a random one.";
    err.hidden = false;
    $("room").setAttribute("aria-invalid", "true");
    $("room").focus();
    return;
  }
  saveName($("name").value);
  location.assign(`/${kind}/${encodeURIComponent(room)}`);
}

function renderRecent() {
  const list = $("recentList");
  const rooms = recentRooms();
  $("recentEmpty").hidden = rooms.length > 0;
  list.replaceChildren(
    ...rooms.map(({ room, at }) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = "/r/" + encodeURIComponent(room);
      a.textContent = room;
      const v = document.createElement("a");
      v.href = "/v/" + encodeURIComponent(room);
      v.className = "small";
      v.textContent = "viewer";
      v.setAttribute("aria-label", "Viewer for " + room);
      const g = document.createElement("a");
      g.href = "/g/" + encodeURIComponent(room);
      g.className = "small";
      g.textContent = "game";
      g.setAttribute("aria-label", "Game in " + room);
      const when = document.createElement("time");
      when.className = "muted small";
      when.dateTime = new Date(at).toISOString();
      when.textContent = new Date(at).toLocaleString();
      const rm = document.createElement("button");
      rm.type = "button";
      rm.className = "secondary small";
      rm.textContent = "Forget";
      rm.setAttribute("aria-label", "Forget " + room);
      rm.addEventListener("click", () => {
        forgetRoom(room);
        renderRecent();
      });
      li.append(a, " ", v, " ", g, " ", when, " ", rm);
      return li;
    }),
  );
}

$("name").value = savedName();
$("room").addEventListener("input", () => {
  $("roomError").hidden = true;
  $("room").removeAttribute("aria-invalid");
});
$("randomRoom").addEventListener("click", () => {
  $("room").value = randomRoom();
  $("room").focus();
});
$("joinForm").addEventListener("submit", (e) => {
  e.preventDefault();
  go("r");
});
$("openViewer").addEventListener("click", () => go("v"));
$("openGame").addEventListener("click", () => go("g"));
renderRecent();
