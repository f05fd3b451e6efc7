// The whiteboard page, /r/{room}: you draw on #source (your layer), and
// #destination shows every layer in the room with yours on top. Chat,
// presence, paste/drop of images, screen sharing and a connection panel.
import { $, roomFromPath, clientId, keepIdentity, savedName, saveName, rememberRoom, wsURL, formatBytes } from "./common.js";
import { openSocket } from "./socket.js";
import { Compositor } from "./layers.js";
import { Sketch, wireBrushControls } from "./draw.js";
import { Publisher } from "./publisher.js";
import { ScreenShare } from "./screen.js";
import { showStatus, showPresence, showError, renderInfo } from "./status.js";
import { Type, Code, Presence } from "./contract.js";

const MAX_CHAT_LINES = 200;

const room = roomFromPath();
// ?patches=0 makes this page send full frames only, as before patch frames
// (for comparisons such as `canvasrelay bench patches`); it still receives
// and applies others' patches.
const sendPatches = new URLSearchParams(location.search).get("patches") !== "0";
const state = {
  client: "",
  name: savedName(),
  limits: { maxBytes: Infinity, maxPixels: Infinity, formats: null },
  busy: false,
  restored: false,
  hellos: 0,
  info: {},
  lastAck: null,
  statuses: [],
  restoring: false, // our layer came back from the relay; its patches follow
  ownPatches: 0, // patches of our own layer applied while restoring
  keyframes: 0, // keyframe requests from the relay
  patchesRefused: 0,
  patchErrors: new Set(), // seqs of our patches the relay refused (handled, not shown)
};
let sock = null;

const source = $("source");
const compositor = new Compositor($("destination"), { own: source });
const publisher = new Publisher({
  canvas: source,
  send: (blob, at) => sock && sock.publish(blob, at),
  encoder: () => (sock && sock.encodes ? sock.encode : null),
  check: (blob) => tooLarge(blob.size, "Your layer"),
});
publisher.patches = sendPatches;
publisher.onRefused = (e) => showError(e.code, e.message);
publisher.onSent = () => (state.restoring = false);
const sketch = new Sketch(source, {
  cursor: $("kbdCursor"),
  onDraw: (rect) => {
    state.restoring = false;
    compositor.schedule();
    if (!share.active) publisher.changed(false, rect);
  },
  onStrokeEnd: () => {
    if (!share.active) publisher.flush();
  },
});
const share = new ScreenShare({
  video: $("sharePreview"),
  overlay: source,
  isBusy: () => state.busy,
  encoder: () => (sock && sock.encodes ? sock.shareFrame : null),
  send: (blob) => {
    const refused = tooLarge(blob.size, "The shared screen frame");
    if (refused) showError(refused.code, refused.message);
    else if (sock) sock.publish(blob);
    publisher.requireFull(); // the shared screen replaced the layer the relay holds
  },
  onState: (active) => {
    $("share").textContent = active ? "Stop sharing" : "Share screen";
    $("share").setAttribute("aria-pressed", String(active));
    $("shareBox").hidden = !active;
    if (!active) publisher.changed(true); // your layer is your drawing again
  },
});
share.usePatches = sendPatches;

function tooLarge(size, what) {
  if (size <= state.limits.maxBytes) return null;
  return {
    code: Code.TOO_LARGE,
    message: `${what} is ${formatBytes(size)}; this room accepts images up to ${formatBytes(state.limits.maxBytes)}. Nothing was sent.`,
  };
}

function setResponse(text) {
  $("serverResponse").textContent = text;
}

function addLine(kind, who, text, ts) {
  const log = $("chatLog");
  const li = document.createElement("li");
  li.className = kind;
  if (ts) {
    const time = document.createElement("time");
    const d = new Date(ts);
    time.dateTime = d.toISOString();
    time.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    li.append(time, " ");
  }
  if (who) {
    const b = document.createElement("b");
    b.textContent = who;
    li.append(b, ": ");
  }
  li.append(text);
  log.append(li);
  while (log.children.length > MAX_CHAT_LINES) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

function onMessage(msg) {
  switch (msg.type) {
    case Type.HELLO:
      state.hellos++;
      state.client = keepIdentity(state.client, msg);
      state.limits = {
        maxBytes: msg.max_bytes > 0 ? msg.max_bytes : Infinity,
        maxPixels: msg.max_pixels > 0 ? msg.max_pixels : Infinity,
        formats: Array.isArray(msg.formats) ? msg.formats : null,
      };
      limitFormats();
      showPresence(msg.count);
      addLine("line-notice", "", state.hellos === 1 || state.renaming ? `You joined ${msg.room} as ${msg.name || state.name || "Anonymous"}.` : "Reconnected.", Date.now());
      state.renaming = false;
      // After a reconnect the relay may have lost our layer (a restart):
      // send it again. A fresh page gets its layer back from the relay.
      // Either way the next snapshot is a full frame: a patch needs the
      // relay to hold what it builds on.
      if (!sketch.blank && !share.active) publisher.changed(true);
      else publisher.requireFull();
      share.needFull = true; // the worker's patches build on what this socket's relay may not hold
      break;
    case Type.KEYFRAME:
      // Our layer log is long: the relay asks for a full frame.
      state.keyframes++;
      if (!share.active) publisher.changed(true);
      else share.needFull = true;
      break;
    case Type.PRESENCE:
      showPresence(msg.count);
      addLine("line-notice", "", `${msg.name || "Someone"} ${msg.event === Presence.JOIN ? "joined" : "left"} (${msg.count} connected).`, Date.now());
      break;
    case Type.CHAT:
      addLine("line-chat", msg.name || "Anonymous", msg.text, msg.ts);
      setResponse(`${msg.name || "Anonymous"}: ${msg.text}`);
      break;
    case Type.ACK:
      state.lastAck = msg;
      break;
    case Type.ERROR:
      if (state.patchErrors.delete(msg.seq)) {
        setResponse(`patch refused (${msg.code}): sending the whole layer`);
        break;
      }
      showError(msg.code, msg.message || "");
      setResponse(`error ${msg.code}: ${msg.message || ""}`);
      break;
    case Type.GAME:
      break; // the game page handles these
    default:
      setResponse(JSON.stringify(msg));
  }
}

function onFrame(ev) {
  if (ev.meta.client && ev.meta.client === state.client) {
    // Our own layer, kept by the relay: restore it once into a fresh page,
    // its full frame and then the patches since.
    if (ev.meta.patch === true) {
      if (state.restoring) {
        sketch.drawPatch(ev.bitmap, ev.meta.x, ev.meta.y);
        state.ownPatches++;
        compositor.schedule();
      }
    } else {
      if (sketch.blank && !state.restored) {
        sketch.drawImage(ev.bitmap, { silent: true });
        state.restoring = true;
        compositor.schedule();
      }
      state.restored = true;
    }
    ev.bitmap.close();
    return;
  }
  compositor.set(ev.meta, ev.bitmap, ev.arrival);
}

function onEvent(ev) {
  switch (ev.ev) {
    case "status":
      showStatus(ev, $("reconnect"));
      state.statuses.push(`${ev.state} ${ev.code || ""} ${ev.reason || ""}`.trim());
      if (state.statuses.length > 20) state.statuses.shift();
      $("send").disabled = ev.state !== "open";
      break;
    case "message":
      onMessage(ev.msg);
      break;
    case "text":
      setResponse(ev.text);
      break;
    case "frame":
      onFrame(ev);
      break;
    case "frameError":
      showError(Code.INVALID_IMAGE, `A picture from ${ev.meta.name || "someone"} could not be decoded: ${ev.message}`);
      break;
    case "refused":
      showError(ev.code, `A picture of ${formatBytes(ev.bytes)} was not sent: this room accepts images up to ${formatBytes(ev.max)}.`);
      break;
    case "patchRefused":
      // The relay did not take a patch (keyframe_needed, our layer gone,
      // rate_limited, a relay without layer log): its picture of our layer
      // misses it, so the whole layer goes next.
      state.patchesRefused++;
      state.patchErrors.add(ev.seq);
      if (state.patchErrors.size > 64) state.patchErrors.delete(state.patchErrors.values().next().value);
      if (ev.code === Code.PATCHES_UNSUPPORTED) {
        publisher.patches = false;
        share.usePatches = false;
      }
      if (!share.active) publisher.changed(true);
      else share.needFull = true;
      break;
    case "encoded":
      publisher.encoded(ev);
      break;
    case "shareEncoded":
      share.encoded(ev);
      if (!ev.skipped) publisher.requireFull(); // the screen replaced the layer the relay holds
      break;
    case "needFull":
      if (!share.active) publisher.changed(true);
      else share.needFull = true;
      break;
    case "busy":
      state.busy = ev.busy;
      publisher.setBusy(ev.busy);
      break;
    case "info":
      state.info = ev.info;
      if ($("connPanel").open) renderPanel();
      break;
  }
}

function renderPanel() {
  renderInfo($("connInfo"), state.info, {
    mode: sock ? sock.mode : "",
    client: state.client,
    layers: compositor.size,
    "last ack": state.lastAck ? `#${state.lastAck.seq} ${state.lastAck.format} ${state.lastAck.width}x${state.lastAck.height} ${formatBytes(state.lastAck.bytes)}` : "-",
  });
}

function limitFormats() {
  const f = state.limits.formats;
  for (const opt of $("shareFormat").options) {
    const word = opt.value.replace("image/", "");
    opt.disabled = !!f && !f.includes(word);
  }
  if ($("shareFormat").selectedOptions[0]?.disabled) {
    const ok = [...$("shareFormat").options].find((o) => !o.disabled);
    if (ok) $("shareFormat").value = ok.value;
  }
}

// publishFile draws a pasted, dropped or chosen image onto your layer and
// publishes the layer. Files over the room's limits are refused here, with
// the relay's error words, before anything is sent.
async function publishFile(file) {
  if (!file.type.startsWith("image/")) {
    showError(Code.UNSUPPORTED_FORMAT, `${file.name || "That file"} is not an image.`);
    return;
  }
  const refused = tooLarge(file.size, "The image");
  if (refused) {
    showError(refused.code, refused.message);
    return;
  }
  let bmp;
  try {
    bmp = await createImageBitmap(file);
  } catch {
    showError(Code.INVALID_IMAGE, `${file.name || "That image"} could not be read.`);
    return;
  }
  if (bmp.width * bmp.height > state.limits.maxPixels) {
    bmp.close();
    showError(Code.TOO_MANY_PIXELS, `The image has ${bmp.width}x${bmp.height} pixels, more than this room accepts.`);
    return;
  }
  sketch.drawImage(bmp, { silent: true });
  bmp.close();
  compositor.schedule();
  if (!share.active) publisher.changed(true);
}

function imageFileOf(dt) {
  if (!dt) return null;
  for (const f of dt.files || []) if (f.type.startsWith("image/")) return f;
  return dt.files && dt.files.length ? dt.files[0] : null;
}

function wireControls() {
  wireBrushControls(sketch);
  $("clear").addEventListener("click", () => {
    sketch.clear();
    if (!share.active) publisher.changed(true);
  });
  $("imageFile").addEventListener("change", (e) => {
    const f = e.target.files && e.target.files[0];
    if (f) publishFile(f);
    e.target.value = "";
  });

  document.addEventListener("paste", (e) => {
    const f = imageFileOf(e.clipboardData);
    if (!f) return; // plain text pastes go where they were aimed
    e.preventDefault();
    publishFile(f);
  });
  const stage = $("stage");
  stage.addEventListener("dragover", (e) => {
    e.preventDefault();
    $("dropHint").hidden = false;
  });
  stage.addEventListener("dragleave", () => ($("dropHint").hidden = true));
  stage.addEventListener("drop", (e) => {
    e.preventDefault();
    $("dropHint").hidden = true;
    const f = imageFileOf(e.dataTransfer);
    if (f) publishFile(f);
  });

  $("chatForm").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("textmessage");
    const text = input.value.trim();
    if (!text || !sock) return;
    if (await sock.sendText(JSON.stringify({ type: Type.CHAT, text }))) {
      addLine("line-chat mine", (state.name || "Anonymous") + " (you)", text, Date.now());
      input.value = "";
    } else {
      showError("offline", "Not connected: the message was not sent.");
    }
  });

  $("name").value = state.name;
  const rename = () => {
    const name = $("name").value.trim().slice(0, 40);
    if (name === state.name) return;
    state.name = name;
    saveName(name);
    state.renaming = true;
    if (sock) sock.connect(wsURL(room, state.name, state.client));
  };
  $("rename").addEventListener("click", rename);
  $("name").addEventListener("keydown", (e) => {
    if (e.key === "Enter") rename();
  });

  $("copyLink").addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      $("copyLink").textContent = "Copied";
    } catch {
      $("copyLink").textContent = "Copy failed";
    }
    setTimeout(() => ($("copyLink").textContent = "Copy link"), 1500);
  });
  $("reconnect").addEventListener("click", () => sock && sock.retry());
  $("connPanel").addEventListener("toggle", renderPanel);

  const shareBtn = $("share");
  if (!ScreenShare.supported()) {
    // Phones and some browsers cannot capture a screen: hide the controls.
    for (const el of document.querySelectorAll(".share-tools")) el.hidden = true;
  }
  shareBtn.addEventListener("click", async () => {
    if (share.active) {
      share.stop();
      return;
    }
    try {
      await share.start({ fps: Number($("shareFps").value), type: $("shareFormat").value });
    } catch (err) {
      if (err && err.name === "NotAllowedError") addLine("line-notice", "", "Screen sharing was cancelled.", Date.now());
      else showError("screen", String(err && err.message || err));
    }
  });

  addEventListener("online", () => sock && sock.retry());
}

async function main() {
  document.title = `${room} · canvasrelay`;
  $("roomName").textContent = room;
  $("viewerLink").href = "/v/" + encodeURIComponent(room);
  rememberRoom(room);
  wireControls();
  state.client = await clientId();
  sock = await openSocket({ url: wsURL(room, state.name, state.client), onEvent });
  // A small hook for tests and debugging in the console.
  window.canvasrelay = {
    get client() {
      return state.client;
    },
    get hellos() {
      return state.hellos;
    },
    get mode() {
      return sock.mode;
    },
    get info() {
      return state.info;
    },
    get statuses() {
      return state.statuses.slice();
    },
    publishRaw: (blob) => sock.publish(blob),
    // shareStream shares stream (a stand-in for a screen, in tests and the
    // bench). opts may set the format ({type: "image/png"} for a lossless
    // test) or the quality ({quality: 1}: Chromium's WebP is then lossless).
    shareStream: (stream, fps = 5, opts = {}) => share.start({ stream, fps, type: $("shareFormat").value, ...opts }),
    get share() {
      const { active, sent, skipped, patches, patchFrames, deferred, bytes, patchBytes } = share;
      return { active, sent, skipped, patches, patchFrames, deferred, bytes, patchBytes };
    },
    get sendsPatches() {
      return sendPatches;
    },
    // publishing: a change of the layer is not yet handed to the socket.
    get publishing() {
      return publisher.dirty || publisher.encoding;
    },
    // Patch frames: sent by this page, and received (applied to others'
    // layers, and to our own while it is restored).
    get patchesSent() {
      return publisher.patchesSent;
    },
    get fullSent() {
      return publisher.fullSent;
    },
    get encodesInWorker() {
      return !!(sock && sock.encodes);
    },
    get patchesReceived() {
      return compositor.patches + state.ownPatches;
    },
    get patchBytes() {
      return publisher.patchBytes;
    },
    get fullBytes() {
      return publisher.fullBytes;
    },
    get keyframes() {
      return state.keyframes;
    },
    get patchesRefused() {
      return state.patchesRefused;
    },
  };
}

if (room) {
  main();
} else {
  $("serverStatus").textContent = "error: invalid room name";
}
