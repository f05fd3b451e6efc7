// openSocket gives a page one relay connection with the same interface
// whether the socket lives in a Web Worker (the default: decoding images
// there keeps drawing smooth) or, where a worker cannot do it, on the page.
//
//   const sock = await openSocket({ url, onEvent });
//   sock.sendText(json)  -> Promise<boolean>
//   sock.publish(blob, at)  queue the newest snapshot (latest wins), or a
//                        patch to draw at at = {x, y} (queued in order)
//   sock.encode(bitmap, at)  encode a snapshot (ImageBitmap, transferred) as
//                        PNG in the worker and publish it; only when
//                        sock.encodes (the worker has OffscreenCanvas);
//                        {ev:"encoded", bytes, patch, error} follows
//   sock.shareFrame(bitmap, {type, quality, full})  a captured screen frame:
//                        the worker sends its changed tiles (share-tiles.js)
//   sock.retry(), sock.close(), sock.mode ("worker" | "main thread")
//
// onEvent receives the events listed in relay-core.js.
import { RelayConnection } from "./relay-core.js";

const WORKER_URL = "/static/js/socket-worker.js";
const READY_TIMEOUT_MS = 3000;

export async function openSocket({ url, onEvent, preferWorker = true }) {
  let sock = null;
  if (preferWorker && typeof Worker === "function") {
    sock = await tryWorker(onEvent);
  }
  if (!sock) sock = mainThread(onEvent);
  sock.connect(url);
  return sock;
}

function tryWorker(onEvent) {
  return new Promise((resolve) => {
    let worker;
    try {
      worker = new Worker(WORKER_URL, { type: "module", name: "canvasrelay-socket" });
    } catch {
      resolve(null);
      return;
    }
    let settled = false;
    const fail = () => {
      if (settled) return;
      settled = true;
      worker.terminate();
      resolve(null);
    };
    const timer = setTimeout(fail, READY_TIMEOUT_MS);
    worker.onerror = (e) => {
      e.preventDefault();
      fail();
    };
    let nextId = 0;
    const waiting = new Map();
    worker.onmessage = (e) => {
      const m = e.data;
      if (m.ev === "ready") {
        clearTimeout(timer);
        if (!m.ok) {
          fail();
          return;
        }
        settled = true;
        worker.onerror = (err) => {
          console.error("canvasrelay socket worker:", err.message || err);
          onEvent({ ev: "status", state: "stopped", code: 0, reason: "socket worker failed: " + (err.message || "error") });
        };
        resolve({
          mode: "worker",
          connect: (url) => worker.postMessage({ op: "connect", url }),
          sendText: (text) =>
            new Promise((res) => {
              const id = ++nextId;
              waiting.set(id, res);
              worker.postMessage({ op: "text", id, text });
            }),
          publish: (blob, at) => worker.postMessage({ op: "publish", blob, at: at || null }),
          encodes: !!m.encodes,
          encode: (bitmap, at) => worker.postMessage({ op: "encode", bitmap, at: at || null }, [bitmap]),
          shareFrame: (bitmap, opts) => worker.postMessage({ op: "shareFrame", bitmap, opts }, [bitmap]),
          retry: () => worker.postMessage({ op: "retry" }),
          close: () => worker.postMessage({ op: "close" }),
        });
        return;
      }
      if (m.ev === "textResult") {
        const res = waiting.get(m.id);
        waiting.delete(m.id);
        if (res) res(m.ok);
        return;
      }
      onEvent(m);
    };
  });
}

function mainThread(onEvent) {
  const conn = new RelayConnection({
    post: (msg) => queueMicrotask(() => onEvent(msg)),
    decode: decodeOnPage,
  });
  addEventListener("online", () => conn.retryNow());
  return {
    mode: "main thread",
    connect: (url) => conn.connect(url),
    sendText: async (text) => conn.sendText(text),
    publish: (blob, at) => conn.publish(blob, at || null),
    encodes: false,
    retry: () => conn.retryNow(),
    close: () => conn.close(),
  };
}

// decodeOnPage decodes with createImageBitmap when the page has it, and
// with an <img> element otherwise. Both give something drawImage accepts.
async function decodeOnPage(blob) {
  if (typeof createImageBitmap === "function") return createImageBitmap(blob);
  const url = URL.createObjectURL(blob);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    img.close = () => {};
    return img;
  } finally {
    URL.revokeObjectURL(url);
  }
}
