// Publisher turns the page's layer into PNG snapshots for the relay:
// throttled while a stroke goes on, at once when it ends. It never encodes
// while the socket is busy (back-pressure) or while an encode is running;
// it remembers that the layer changed and sends one fresh snapshot later.
//
// It tracks the dirty rectangle of the layer since the last snapshot, and
// sends only that rectangle as a patch (docs/patches.md) when it covers
// under half the layer. It sends the whole layer (a full frame) otherwise,
// when asked to (requireFull: after a (re)connect, a keyframe request, a
// refused patch), when the relay keeps no layer log, and when the last
// full frame is older than keyframeMs. PNG keeps transparency, so a patch
// clears what it covers where the layer was erased.
//
// Encoding: with an encoder (the socket worker's, see socket.js) the
// snapshot is an ImageBitmap handed to the worker, which encodes it as PNG
// on an OffscreenCanvas and sends it; the next snapshot waits for its
// "encoded" answer (encoded()). Without one, canvas.toBlob on the page.
export const KEYFRAME_MS = 30000;
// ENCODE_TIMEOUT_MS: an encode the worker never answers stops blocking.
const ENCODE_TIMEOUT_MS = 10000;

export class Publisher {
  constructor({ canvas, send, encoder = null, check = () => null, throttleMs = 200, keyframeMs = KEYFRAME_MS }) {
    this.canvas = canvas;
    this.encoder = encoder; // () => null | (bitmap, at) => void: encode in the worker
    this.encodeTimer = 0;
    this.send = send; // (blob, at) => void; at = {x, y} for a patch, null for a full frame
    this.check = check; // (blob) => null | {code, message}: refuse before sending
    this.throttleMs = throttleMs;
    this.keyframeMs = keyframeMs;
    this.patches = true; // false once the relay says it keeps no layer log
    this.dirty = false;
    this.rect = null; // {x0, y0, x1, y1}: what changed since the last snapshot
    this.full = true; // the next snapshot must be a full frame
    this.encoding = false;
    this.busy = false;
    this.lastAt = 0;
    this.lastFullAt = 0;
    this.timer = 0;
    this.scratch = null; // canvas the patch rectangle is copied into
    this.patchesSent = 0;
    this.fullSent = 0;
    this.patchBytes = 0;
    this.fullBytes = 0;
    this.onRefused = () => {};
    this.onSent = () => {};
  }

  // changed marks rect (canvas pixels; null or none: the whole layer) as
  // changed. now=true sends as soon as possible (the end of a stroke, a
  // clear); otherwise at most once per throttle period.
  changed(now = false, rect = null) {
    this.mark(rect);
    this.schedule(now);
  }

  // flush sends what changed as soon as possible (a stroke ended).
  flush() {
    if (this.dirty) this.schedule(true);
  }

  // requireFull makes the next snapshot a full frame, without sending one
  // now.
  requireFull() {
    this.full = true;
  }

  // reset forgets what changed (the layer was cleared by someone else, as
  // a game turn does) and makes the next snapshot a full frame.
  reset() {
    clearTimeout(this.timer);
    this.dirty = false;
    this.rect = null;
    this.full = true;
  }

  mark(rect) {
    this.dirty = true;
    if (!rect) {
      this.full = true;
      return;
    }
    const { width: w, height: h } = this.canvas;
    const r = {
      x0: Math.max(0, Math.floor(rect.x0)),
      y0: Math.max(0, Math.floor(rect.y0)),
      x1: Math.min(w, Math.ceil(rect.x1)),
      y1: Math.min(h, Math.ceil(rect.y1)),
    };
    if (r.x1 <= r.x0 || r.y1 <= r.y0) return;
    const c = this.rect;
    this.rect = c ? { x0: Math.min(c.x0, r.x0), y0: Math.min(c.y0, r.y0), x1: Math.max(c.x1, r.x1), y1: Math.max(c.y1, r.y1) } : r;
  }

  schedule(now) {
    if (this.encoding || this.busy) return;
    const wait = now ? 0 : this.lastAt + this.throttleMs - performance.now();
    clearTimeout(this.timer);
    if (wait > 0) {
      this.timer = setTimeout(() => this.snapshot(), wait);
      return;
    }
    this.snapshot();
  }

  setBusy(busy) {
    this.busy = busy;
    if (!busy && this.dirty) this.schedule(true);
  }

  snapshot() {
    if (!this.dirty || this.encoding || this.busy) return;
    const { width: w, height: h } = this.canvas;
    const r = this.rect;
    const now = performance.now();
    const area = r ? (r.x1 - r.x0) * (r.y1 - r.y0) : 0;
    const full = this.full || !this.patches || !r || area * 2 >= w * h || now - this.lastFullAt >= this.keyframeMs;
    if (!full && area === 0) return;
    this.dirty = false;
    this.rect = null;
    this.full = false;
    this.encoding = true;
    this.lastAt = now;
    let src = this.canvas;
    let at = null;
    if (full) {
      this.lastFullAt = now;
    } else {
      // Copy the rectangle as it is now (toBlob copies the canvas at once,
      // so drawing on meanwhile goes into the next snapshot).
      at = { x: r.x0, y: r.y0 };
      src = this.scratch || (this.scratch = document.createElement("canvas"));
      src.width = r.x1 - r.x0; // also clears it
      src.height = r.y1 - r.y0;
      src.getContext("2d").drawImage(this.canvas, r.x0, r.y0, src.width, src.height, 0, 0, src.width, src.height);
    }
    this.onSent(at);
    const encoder = this.encoder();
    if (encoder) {
      // toBlob would encode on this thread; the worker does it instead.
      // createImageBitmap copies the canvas now.
      createImageBitmap(src).then(
        (bitmap) => {
          encoder(bitmap, at);
          clearTimeout(this.encodeTimer);
          this.encodeTimer = setTimeout(() => this.encoded({ bytes: 0, patch: !!at, error: "no answer" }), ENCODE_TIMEOUT_MS);
        },
        (err) => this.encoded({ bytes: 0, patch: !!at, error: String(err) }),
      );
      return;
    }
    src.toBlob((blob) => {
      this.encoding = false;
      if (!blob) {
        this.full = true; // the relay's layer misses this change
      } else {
        const refused = this.check(blob);
        if (refused) {
          this.full = true;
          this.onRefused(refused);
        } else {
          if (at) {
            this.patchesSent++;
            this.patchBytes += blob.size;
          } else {
            this.fullSent++;
            this.fullBytes += blob.size;
          }
          this.send(blob, at);
        }
      }
      if (this.dirty) this.schedule(false);
    }, "image/png");
  }

  // encoded takes the worker's answer for the snapshot it encoded.
  encoded({ bytes, patch, error }) {
    if (!this.encoding) return;
    clearTimeout(this.encodeTimer);
    this.encoding = false;
    if (error) {
      this.full = true; // the relay's layer misses this change
    } else if (patch) {
      this.patchesSent++;
      this.patchBytes += bytes;
    } else {
      this.fullSent++;
      this.fullBytes += bytes;
    }
    if (this.dirty) this.schedule(false);
  }
}
