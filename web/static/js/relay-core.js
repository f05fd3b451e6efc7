// RelayConnection owns one WebSocket to the relay: it connects, reconnects
// with exponential backoff and jitter, pairs each binary frame with the
// "frame" event sent right before it, decodes images, and sends snapshots
// with back-pressure (latest wins; never a pile of stale snapshots).
// Patch frames (docs/patches.md): a snapshot may be a patch, sent as the
// {"type":"patch","x","y"} command and its image back to back; a full
// snapshot replaces every one not yet sent, patches queue behind it.
// Received images are decoded in order per sender, so a sender's patches
// are applied after the full frame they belong to.
//
// It runs in the socket worker (socket-worker.js) or, where a worker cannot
// do the job, on the page itself. It talks to its owner only through
// post(event, transfer), so both places see the same events:
//
//   {ev:"status", state, code, reason, attempt, retryIn}
//        state: "connecting" | "open" | "retrying" | "stopped" | "closed"
//   {ev:"message", msg}               one JSON text event from the relay
//   {ev:"text", text}                 a text frame that is not JSON
//   {ev:"frame", meta, bitmap, arrival}  a decoded image (bitmap is transferred);
//                                     meta.patch: draw it at meta.x, meta.y of the sender's layer
//   {ev:"frameError", meta, message}  an image that could not be decoded
//   {ev:"sent", seq, bytes, patch}    a binary frame went out with this seq
//   {ev:"patchRefused", seq, code}    the relay answered a patch with an error: send a full frame
//   {ev:"needFull"}                   queued patches were dropped: send a full frame
//   {ev:"busy", busy}                 back-pressure started or ended
//   {ev:"refused", code, bytes, max}  a snapshot over the relay's limit was not sent
//   {ev:"info", info}                 the connection panel's fields

import { Type, Code, Close, Query, SUBPROTOCOL } from "./contract.js";

export { SUBPROTOCOL };

// Close codes after which retrying cannot help: show the reason instead.
const FINAL_CODES = new Set([Close.POLICY, Close.TOO_BIG]);
const READY = ["CONNECTING", "OPEN", "CLOSING", "CLOSED"];
// MAX_PENDING bounds the snapshots waiting to be sent (a full frame and the
// patches after it); past it the patches are dropped and the owner is asked
// for a full frame. MAX_DECODES bounds one sender's images waiting to be
// decoded (the relay's layer log bounds them too).
const MAX_PENDING = 32;
const MAX_DECODES = 256;
// MAX_PATCH_SEQS bounds the seqs of patches awaiting their answer.
const MAX_PATCH_SEQS = 64;

export class RelayConnection {
  constructor({ post, decode, busyBytes = 256 * 1024, maxUnacked = 2, backoffBase = 500, backoffMax = 15000 }) {
    // Static after construction.
    this.post = post;
    this.decode = decode;
    this.busyBytes = busyBytes;
    this.maxUnacked = maxUnacked;
    this.backoffBase = backoffBase;
    this.backoffMax = backoffMax;

    this.url = "";
    this.ws = null;
    this.wanted = false; // the owner wants a connection
    this.attempt = 0; // failed attempts since the last good connection
    this.retryTimer = 0;
    this.openedAt = 0;
    this.connects = 0; // sockets opened, for tests and the panel
    this.seq = 0; // binary frames sent on this socket (the relay's seq)
    this.unacked = 0; // sent frames not yet answered by ack or error
    this.lastSendAt = 0;
    this.pending = []; // snapshots not yet sent: {blob, at}; at = {x, y} for a patch
    this.patchSeqs = new Set(); // seqs of patches sent on this socket, not yet answered
    this.maxBytes = Infinity; // the relay's image limit, from hello
    this.pumpTimer = 0;
    this.busy = false;
    this.frameMeta = null; // the "frame" event waiting for its binary frame
    this.arrivals = 0;
    this.newestFull = new Map(); // client -> arrival of its newest full frame
    this.decodes = new Map(); // client -> {items, running}: images decoded in order
    this.infoTimer = 0;
  }

  // connect opens a socket to url, replacing any current one (a new name
  // means a new URL).
  connect(url) {
    this.url = url;
    this.wanted = true;
    this.attempt = 0;
    if (this.ws) {
      const old = this.ws;
      this.ws = null;
      old.close(Close.NORMAL, "reconnecting");
    }
    this.open();
  }

  // adoptIdentity makes reconnects use the id in force and its resume, as
  // the hello says (the relay gives a fresh id when the one asked for is
  // held and not proven).
  adoptIdentity(hello) {
    if (typeof hello.client !== "string" || !hello.client) return;
    try {
      const u = new URL(this.url);
      u.searchParams.set(Query.CLIENT, hello.client);
      if (typeof hello.resume === "string" && hello.resume) u.searchParams.set(Query.RESUME, hello.resume);
      else u.searchParams.delete(Query.RESUME);
      this.url = u.href;
    } catch {
      // keep the URL as it is
    }
  }

  // retryNow skips the backoff wait (the page came back online, or the user
  // pressed Reconnect after a final close).
  retryNow() {
    if (!this.url) return;
    this.wanted = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    clearTimeout(this.retryTimer);
    this.open();
  }

  close() {
    this.wanted = false;
    clearTimeout(this.retryTimer);
    clearTimeout(this.pumpTimer);
    clearInterval(this.infoTimer);
    if (this.ws) this.ws.close(Close.NORMAL, "bye");
  }

  open() {
    clearTimeout(this.retryTimer);
    let ws;
    try {
      ws = new WebSocket(this.url, [SUBPROTOCOL]);
    } catch (err) {
      this.post({ ev: "status", state: "stopped", code: 0, reason: String(err && err.message || err) });
      this.wanted = false;
      return;
    }
    ws.binaryType = "blob";
    this.ws = ws;
    this.seq = 0;
    this.unacked = 0;
    this.frameMeta = null;
    this.patchSeqs.clear();
    // A patch applies to what the relay held before: on a new socket (the
    // relay may have restarted) only full frames go; the owner sends a full
    // frame after hello.
    this.pending = this.pending.filter((p) => !p.at);
    this.status("connecting");
    ws.onopen = () => {
      if (ws !== this.ws) return;
      this.openedAt = Date.now();
      this.connects++;
      this.status("open");
      this.postInfo();
      clearInterval(this.infoTimer);
      this.infoTimer = setInterval(() => this.postInfo(), 500);
      this.pump();
    };
    ws.onmessage = (e) => {
      if (ws === this.ws) this.receive(e.data);
    };
    ws.onerror = () => {
      // A close event always follows; it carries the code.
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.closed(e.code, e.reason);
    };
    this.postInfo();
  }

  closed(code, reason) {
    clearInterval(this.infoTimer);
    clearTimeout(this.pumpTimer);
    this.setBusy(false);
    const lived = this.openedAt ? Date.now() - this.openedAt : 0;
    this.openedAt = 0;
    this.postInfo();
    if (!this.wanted) {
      this.status("closed", { code, reason });
      return;
    }
    if (FINAL_CODES.has(code)) {
      this.wanted = false;
      this.status("stopped", { code, reason });
      return;
    }
    // A connection that lived a while was good: start the backoff afresh.
    // One that dropped at once keeps growing the wait, so a relay that
    // accepts and closes straight away is not hammered.
    if (lived > 5000) this.attempt = 0;
    this.attempt++;
    const cap = Math.min(this.backoffMax, this.backoffBase * 2 ** (this.attempt - 1));
    const wait = Math.round(cap / 2 + Math.random() * cap / 2); // "equal jitter"
    this.status("retrying", { code, reason, retryIn: wait });
    this.retryTimer = setTimeout(() => this.open(), wait);
  }

  status(state, extra = {}) {
    this.post({ ev: "status", state, attempt: this.attempt, connects: this.connects, ...extra });
  }

  receive(data) {
    if (typeof data === "string") {
      let msg = null;
      if (data.startsWith("{")) {
        try {
          msg = JSON.parse(data);
        } catch {
          msg = null;
        }
      }
      if (!msg || typeof msg.type !== "string") {
        this.post({ ev: "text", text: data });
        return;
      }
      if (msg.type === Type.FRAME) {
        this.frameMeta = msg; // describes the binary frame that comes next
        return;
      }
      if (msg.type === Type.HELLO && msg.max_bytes > 0) this.maxBytes = msg.max_bytes;
      if (msg.type === Type.HELLO) this.adoptIdentity(msg);
      if ((msg.type === Type.ACK || msg.type === Type.ERROR) && msg.seq) {
        this.unacked = Math.max(0, this.unacked - 1);
        if (this.patchSeqs.delete(msg.seq) && msg.type === Type.ERROR) {
          this.post({ ev: "patchRefused", seq: msg.seq, code: msg.code });
        }
        queueMicrotask(() => this.pump());
      }
      this.post({ ev: "message", msg });
      return;
    }
    const meta = this.frameMeta || { type: Type.FRAME, client: "", name: "" };
    this.frameMeta = null;
    const arrival = ++this.arrivals;
    let q = this.decodes.get(meta.client);
    if (!q) {
      q = { items: [], running: false };
      this.decodes.set(meta.client, q);
    }
    if (meta.patch !== true) {
      // A full frame replaces whatever of this sender waits to be decoded.
      this.newestFull.set(meta.client, arrival);
      q.items = [];
    } else if (q.items.length >= MAX_DECODES) {
      this.post({ ev: "frameError", meta, message: "too many patches waiting to be decoded" });
      return;
    }
    q.items.push({ meta, data, arrival });
    this.drain(meta.client, q);
  }

  // drain decodes one sender's images one after the other, so a patch is
  // posted after the full frame (and the patches) it follows. An image
  // older than the sender's newest full frame is not posted.
  drain(client, q) {
    if (q.running) return;
    const it = q.items.shift();
    if (!it) {
      if (this.decodes.get(client) === q) this.decodes.delete(client);
      return;
    }
    q.running = true;
    this.decode(it.data)
      .then(
        (bitmap) => {
          if ((this.newestFull.get(client) || 0) > it.arrival) {
            bitmap.close(); // a newer full frame of this sender arrived meanwhile
            return;
          }
          this.post({ ev: "frame", meta: it.meta, bitmap, arrival: it.arrival }, [bitmap]);
        },
        (err) => this.post({ ev: "frameError", meta: it.meta, message: String(err && err.message || err) }),
      )
      .finally(() => {
        q.running = false;
        this.drain(client, q);
      });
  }

  sendText(text) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(text);
    return true;
  }

  // publish queues blob as the newest snapshot. A full frame (at null)
  // drops every older snapshot not yet sent: only the newest picture
  // matters. A patch (at = {x, y}) queues behind them, since each patch
  // builds on the ones before it.
  publish(blob, at = null) {
    if (!at) {
      this.pending = [{ blob, at: null }];
    } else {
      this.pending.push({ blob, at });
      if (this.pending.length > MAX_PENDING) {
        this.pending = this.pending.filter((p) => !p.at);
        this.post({ ev: "needFull" });
      }
    }
    this.pump();
  }

  pump() {
    clearTimeout(this.pumpTimer);
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    if (this.unacked > 0 && Date.now() - this.lastSendAt > 5000) this.unacked = 0; // lost answers: do not stall forever
    const full = ws.bufferedAmount > this.busyBytes || this.unacked >= this.maxUnacked;
    if (full) {
      this.setBusy(true);
      this.pumpTimer = setTimeout(() => this.pump(), 50);
      return;
    }
    if (this.pending.length) {
      const { blob, at } = this.pending.shift();
      if (blob.size > this.maxBytes) {
        // The relay would close the socket (1009) on a frame over its
        // limit; refuse it here and keep the connection.
        this.post({ ev: "refused", code: Code.TOO_LARGE, bytes: blob.size, max: this.maxBytes });
        if (at) this.post({ ev: "needFull" });
        this.pumpTimer = setTimeout(() => this.pump(), 0);
        return;
      }
      // The patch command and its image go back to back: nothing may come
      // between them (docs/patches.md).
      if (at) ws.send(JSON.stringify({ type: Type.PATCH, x: at.x, y: at.y }));
      ws.send(blob);
      this.seq++;
      this.unacked++;
      if (at) {
        this.patchSeqs.add(this.seq);
        if (this.patchSeqs.size > MAX_PATCH_SEQS) this.patchSeqs.delete(this.patchSeqs.values().next().value);
      }
      this.lastSendAt = Date.now();
      this.post({ ev: "sent", seq: this.seq, bytes: blob.size, patch: !!at });
      this.postInfo();
      // Patches queued together (a screen frame's few) go back to back,
      // within the ack window, so that viewers tend to draw them at once.
      const next = this.pending[0];
      this.pumpTimer = setTimeout(() => this.pump(), at && next && next.at ? 0 : 50);
      return;
    }
    this.setBusy(false);
  }

  setBusy(busy) {
    if (busy === this.busy) return;
    this.busy = busy;
    this.post({ ev: "busy", busy });
  }

  postInfo() {
    const ws = this.ws;
    this.post({
      ev: "info",
      info: {
        url: ws ? ws.url : this.url,
        readyState: ws ? ws.readyState + " " + READY[ws.readyState] : "-",
        protocol: ws ? ws.protocol : "",
        extensions: ws ? ws.extensions : "",
        binaryType: ws ? ws.binaryType : "",
        bufferedAmount: ws ? ws.bufferedAmount : 0,
        unacked: this.unacked,
        sent: this.seq,
        connects: this.connects,
      },
    });
  }
}
