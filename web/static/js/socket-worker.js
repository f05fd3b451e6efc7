// The socket worker: owns the WebSocket and decodes received images off the
// main thread, then transfers ImageBitmaps to the page. Messages from the
// page: {op:"connect", url}, {op:"text", text}, {op:"publish", blob, at},
// {op:"retry"}, {op:"close"}. Messages to the page: see relay-core.js, plus
// {ev:"ready", ok} once at start and {ev:"textResult", id, ok}.
import { RelayConnection } from "./relay-core.js";

const ok = typeof WebSocket === "function" && typeof createImageBitmap === "function";
let conn = null;

if (ok) {
  conn = new RelayConnection({
    post: (msg, transfer) => self.postMessage(msg, transfer || []),
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
    case "retry":
      conn.retryNow();
      break;
    case "close":
      conn.close();
      break;
  }
};

self.postMessage({ ev: "ready", ok });
