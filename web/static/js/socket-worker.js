// The socket worker: owns the WebSocket and decodes received images off the
// main thread, then transfers ImageBitmaps to the page. Messages from the
// page: {op:"connect", url}, {op:"text", text}, {op:"publish", blob, at},
// {op:"encode", bitmap, at}, {op:"retry"}, {op:"close"}. Messages to the
// page: see relay-core.js, plus {ev:"ready", ok, encodes} once at start,
// {ev:"textResult", id, ok} and {ev:"encoded", bytes, patch}. And
// {op:"shareFrame", bitmap, opts: {type, quality, full, whole}}, answered by
// {ev:"shareEncoded", skipped, deferred, patch, patches, bytes, error}. With
// whole (the page sends full frames only) a changed frame goes whole, never
// as patches.
//
// encode takes a snapshot of the page's layer (an ImageBitmap: the whole
// layer, or the patch rectangle at at = {x, y}) and encodes it as PNG on an
// OffscreenCanvas here, off the page's thread, then publishes it. Encodes
// run one at a time, in order; a full snapshot drops the ones not started.
import { RelayConnection } from "./relay-core.js";
import { ShareEncoder, changedTiles } from "./share-tiles.js";

const ok = typeof WebSocket === "function" && typeof createImageBitmap === "function";
const encodes = typeof OffscreenCanvas === "function";
let conn = null;
let encQueue = []; // {bitmap, at} waiting to be encoded
let encoding = false;
let shareEnc = null;

// shareFrame encodes one captured screen frame: only its changed tiles, as
// a few patches, or the whole frame (share-tiles.js). A frame that would be
// patches is not looked at (deferred) while the socket is not open, or
// while the last frame's images still wait to be sent (a slow relay: the
// ack window is full): the next one is compared with what was sent, so
// nothing is lost, and the images waiting never exceed one frame's. A full
// frame replaces them. Each new socket resets the encoder (see the conn's
// post below): its first frame goes whole, since the relay behind it may
// not hold what the patches would build on.
async function shareFrame(m) {
  if (!shareEnc) shareEnc = new ShareEncoder((blob, at) => conn.publish(blob, at));
  const opts = m.opts || {};
  const open = conn.ws && conn.ws.readyState === WebSocket.OPEN;
  if (!opts.full && (!open || conn.pending.length > 0)) {
    m.bitmap.close();
    self.postMessage({ ev: "shareEncoded", skipped: false, deferred: true, patch: false, patches: 0, bytes: 0 });
    return;
  }
  try {
    const r = opts.whole ? await shareWhole(m.bitmap, opts) : await shareEnc.encode(m.bitmap, opts);
    self.postMessage({ ev: "shareEncoded", ...r });
  } catch (err) {
    m.bitmap.close();
    shareEnc.reset();
    if (whole) whole.prev = null;
    self.postMessage({ ev: "shareEncoded", skipped: false, patch: false, patches: 0, bytes: 0, error: String(err && err.message || err) });
  }
}

// shareWhole sends a captured frame whole when any tile changed since the
// last one sent (the same comparison as for patches), or when full. Like
// the share encoder, it starts over on each new socket.
let whole = null; // {canvas, ctx, prev}
async function shareWhole(bitmap, { type, quality, full }) {
  const w = bitmap.width;
  const h = bitmap.height;
  if (!whole || whole.canvas.width !== w || whole.canvas.height !== h) {
    const canvas = new OffscreenCanvas(w, h);
    whole = { canvas, ctx: canvas.getContext("2d", { willReadFrequently: true }), prev: null };
  }
  whole.ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const data = whole.ctx.getImageData(0, 0, w, h).data;
  if (!full && whole.prev && !changedTiles(whole.prev, data, w, h).count) return { skipped: true, patch: false, patches: 0, bytes: 0 };
  const blob = await whole.canvas.convertToBlob({ type, quality });
  whole.prev = data;
  conn.publish(blob, null);
  return { skipped: false, patch: false, patches: 0, bytes: blob.size };
}

function encode(bitmap, at) {
  if (!at) {
    for (const it of encQueue) it.bitmap.close();
    encQueue = [];
  }
  encQueue.push({ bitmap, at });
  runEncodes();
}

async function runEncodes() {
  if (encoding) return;
  const it = encQueue.shift();
  if (!it) return;
  encoding = true;
  try {
    const c = new OffscreenCanvas(it.bitmap.width, it.bitmap.height);
    c.getContext("2d").drawImage(it.bitmap, 0, 0);
    const blob = await c.convertToBlob({ type: "image/png" });
    conn.publish(blob, it.at);
    self.postMessage({ ev: "encoded", bytes: blob.size, patch: !!it.at });
  } catch (err) {
    self.postMessage({ ev: "encoded", bytes: 0, patch: !!it.at, error: String(err && err.message || err) });
  } finally {
    it.bitmap.close();
    encoding = false;
    runEncodes();
  }
}

if (ok) {
  conn = new RelayConnection({
    post: (msg, transfer) => {
      if (msg.ev === "status" && msg.state === "open") {
        if (shareEnc) shareEnc.reset();
        if (whole) whole.prev = null;
      }
      self.postMessage(msg, transfer || []);
    },
    decode: (blob) => createImageBitmap(blob),
  });
  self.addEventListener("online", () => conn.retryNow());
}

self.onmessage = (e) => {
  const m = e.data || {};
  if (!conn) return;
  switch (m.op) {
    case "connect":
      conn.connect(m.url);
      break;
    case "text":
      self.postMessage({ ev: "textResult", id: m.id, ok: conn.sendText(m.text) });
      break;
    case "publish":
      conn.publish(m.blob, m.at || null);
      break;
    case "shareFrame":
      if (encodes) shareFrame(m);
      else m.bitmap.close();
      break;
    case "encode":
      if (encodes) encode(m.bitmap, m.at || null);
      else m.bitmap.close();
      break;
    case "retry":
      conn.retryNow();
      break;
    case "close":
      conn.close();
      break;
  }
};

self.postMessage({ ev: "ready", ok, encodes });
