// The viewer page, /v/{room}: only the room's picture, fitted to the
// window, with a fullscreen button. It publishes nothing.
import { $, roomFromPath, clientId, keepIdentity, wsURL } from "./common.js";
import { openSocket } from "./socket.js";
import { Compositor } from "./layers.js";
import { showStatus, showPresence, showError } from "./status.js";
import { Type, Code } from "./contract.js";

const room = roomFromPath();
const canvas = $("destination");
const state = { client: "", hellos: 0, frames: 0 };
const compositor = new Compositor(canvas, {
  onChange: () => ($("waiting").hidden = compositor.size > 0),
});

// The canvas takes the size of the biggest layer, so a mirrored screen
// keeps its detail; CSS fits it to the window.
function resizeFor(bitmap) {
  const big = compositor.largest() || { width: bitmap.width, height: bitmap.height };
  if (canvas.width !== big.width || canvas.height !== big.height) {
    canvas.width = big.width;
    canvas.height = big.height;
    fit();
  }
}

// fit sizes the canvas element to the largest box of its aspect ratio that
// fits the window (the letterbox stays black, the picture's paper white).
function fit() {
  const s = Math.min(innerWidth / canvas.width, innerHeight / canvas.height);
  canvas.style.width = Math.floor(canvas.width * s) + "px";
  canvas.style.height = Math.floor(canvas.height * s) + "px";
}
addEventListener("resize", fit);
fit();

function onEvent(ev) {
  switch (ev.ev) {
    case "status":
      showStatus(ev, $("reconnect"));
      break;
    case "message": {
      const m = ev.msg;
      if (m.type === Type.HELLO) {
        state.hellos++;
        state.client = keepIdentity(state.client, m);
        showPresence(m.count);
      } else if (m.type === Type.PRESENCE) {
        showPresence(m.count);
      } else if (m.type === Type.ERROR) {
        showError(m.code, m.message || "");
      }
      break;
    }
    case "frame": {
      state.frames++;
      const patch = ev.meta.patch === true; // drawn onto the sender's layer
      compositor.set(ev.meta, ev.bitmap, ev.arrival);
      if (!patch) resizeFor(ev.bitmap);
      break;
    }
    case "frameError":
      showError(Code.INVALID_IMAGE, ev.message);
      break;
  }
}

function wire() {
  const fs = $("fullscreen");
  const target = document.documentElement;
  if (!document.fullscreenEnabled) {
    fs.disabled = true;
    fs.title = "Fullscreen is not available here";
  }
  fs.addEventListener("click", async () => {
    try {
      if (document.fullscreenElement) await document.exitFullscreen();
      else await target.requestFullscreen();
    } catch (err) {
      showError("fullscreen", String(err && err.message || err));
    }
  });
  document.addEventListener("fullscreenchange", () => {
    fs.textContent = document.fullscreenElement ? "Exit fullscreen" : "Fullscreen";
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "f" && !e.ctrlKey && !e.metaKey && !e.altKey) fs.click();
  });
  // The bar fades while the mouse rests; any movement or key brings it back.
  let idle = 0;
  const wake = () => {
    document.body.classList.remove("idle");
    clearTimeout(idle);
    idle = setTimeout(() => document.body.classList.add("idle"), 3000);
  };
  ["pointermove", "keydown", "touchstart"].forEach((t) => addEventListener(t, wake, { passive: true }));
  wake();
}

async function main() {
  document.title = `${room} · viewer · canvasrelay`;
  $("roomName").textContent = room;
  wire();
  state.client = await clientId();
  const sock = await openSocket({ url: wsURL(room, "viewer", state.client), onEvent });
  $("reconnect").addEventListener("click", () => sock.retry());
  addEventListener("online", () => sock.retry());
  window.canvasrelay = {
    get hellos() {
      return state.hellos;
    },
    get frames() {
      return state.frames;
    },
    get patchesReceived() {
      return compositor.patches;
    },
    get mode() {
      return sock.mode;
    },
  };
}

if (room) main();
else $("serverStatus").textContent = "error: invalid room name";
