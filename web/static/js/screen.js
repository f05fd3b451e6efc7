// ScreenShare captures a screen, window or tab with getDisplayMedia, draws
// the video onto a canvas at a chosen rate (2 fps by default), and sends
// JPEG or WebP Blobs. Frames that look the same as the last one sent (the
// worker's tile comparison, or without the worker a cheap hash of a small
// downscaled copy) are skipped, and nothing is
// encoded while the socket is busy. The page's own layer is drawn on top,
// so you can annotate what you share.
//
// With the socket worker's encoder (encoder() returns sock.shareFrame), a
// changed frame goes to the worker as an ImageBitmap, which sends only its
// changed tiles, as one patch or a few far apart (share-tiles.js), and
// answers with encoded(); the first frame, one after each hello, one on
// the relay's keyframe request and one every KEYFRAME_MS go whole. Without
// it, each changed frame is encoded whole on the page with toBlob.
const SAMPLE_W = 64;
const SAMPLE_H = 36;
const MAX_WIDTH = 1920;
// KEYFRAME_MS: a full frame at least this often, as the whiteboard does
// (the relay's layer log serves late joiners in between).
const KEYFRAME_MS = 30000;

export class ScreenShare {
  constructor({ video, overlay, send, isBusy, encoder = () => null, onState = () => {} }) {
    this.encoder = encoder;
    this.needFull = true;
    this.usePatches = true; // false once the relay keeps no layer log
    this.patches = 0; // frames sent as patches
    this.patchFrames = 0; // patch images sent (a frame may need a few)
    this.deferred = 0; // frames not looked at while the last one's images waited
    this.video = video;
    this.overlay = overlay; // canvas drawn over the video, or null
    this.send = send;
    this.isBusy = isBusy;
    this.onState = onState;
    this.stream = null;
    this.timer = 0;
    this.canvas = document.createElement("canvas");
    this.sample = document.createElement("canvas");
    this.sample.width = SAMPLE_W;
    this.sample.height = SAMPLE_H;
    this.sampleCtx = this.sample.getContext("2d", { willReadFrequently: true });
    this.lastHash = 0;
    this.lastSentAt = 0;
    this.encoding = false;
    this.sent = 0;
    this.skipped = 0;
    this.bytes = 0; // bytes of the frames sent, patches included
    this.patchBytes = 0;
  }

  get active() {
    return this.stream !== null;
  }

  static supported() {
    return !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  }

  // start shares a screen (picked by the browser), or stream when given (a
  // canvas's captureStream, say).
  async start({ fps = 2, type = "image/webp", quality = 0.8, stream = null } = {}) {
    if (this.stream) this.stop();
    stream = stream || (await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: fps, max: 30 } }, audio: false }));
    this.needFull = true;
    this.stream = stream;
    this.type = type;
    this.quality = quality;
    this.interval = Math.max(50, Math.round(1000 / fps));
    this.lastHash = 0;
    stream.getVideoTracks().forEach((t) => t.addEventListener("ended", () => this.stop()));
    this.video.srcObject = stream;
    await this.video.play();
    this.onState(true);
    this.tick();
  }

  stop() {
    clearTimeout(this.timer);
    if (!this.stream) return;
    this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
    this.video.srcObject = null;
    this.onState(false);
  }

  tick() {
    if (!this.stream) return;
    this.timer = setTimeout(() => this.tick(), this.interval);
    const v = this.video;
    if (this.encoding || this.isBusy() || !v.videoWidth) return;
    const s = Math.min(1, MAX_WIDTH / v.videoWidth);
    const w = Math.round(v.videoWidth * s);
    const h = Math.round(v.videoHeight * s);
    const c = this.canvas;
    if (c.width !== w || c.height !== h) {
      c.width = w;
      c.height = h;
    }
    const ctx = c.getContext("2d");
    ctx.drawImage(v, 0, 0, w, h);
    if (this.overlay) ctx.drawImage(this.overlay, 0, 0, w, h);
    const now = performance.now();
    const encoder = this.encoder();
    if (encoder) {
      // The worker compares every pixel, tile by tile, and skips the frame
      // when nothing changed (a thin character can hide from the hash).
      // Sending full frames only (no layer log, or ?patches=0: whole), it
      // compares the same way and sends a changed frame whole.
      const full = this.needFull || now - this.lastSentAt >= KEYFRAME_MS;
      if (full) this.lastSentAt = now;
      this.needFull = false;
      this.encoding = true;
      createImageBitmap(c).then(
        (bitmap) => encoder(bitmap, { type: this.type, quality: this.quality, full, whole: !this.usePatches }),
        () => this.encoded({ error: "snapshot failed" }),
      );
      return;
    }
    const hash = this.hash(c);
    if (hash === this.lastHash && now - this.lastSentAt < KEYFRAME_MS) {
      this.skipped++;
      return;
    }
    this.lastHash = hash;
    this.encoding = true;
    this.lastSentAt = now;
    c.toBlob(
      (blob) => {
        this.encoding = false;
        if (!blob || !this.stream) return;
        this.sent++;
        this.bytes += blob.size;
        this.send(blob);
      },
      this.type,
      this.quality,
    );
  }

  // encoded takes the worker's answer for the last frame handed to it.
  encoded({ skipped, deferred, patch, patches = 0, bytes = 0, error }) {
    this.encoding = false;
    if (error) {
      this.needFull = true;
      this.lastHash = 0;
    } else if (deferred) {
      this.deferred++;
    } else if (skipped) {
      this.skipped++;
    } else {
      this.sent++;
      this.bytes += bytes;
      if (patch) {
        this.patches++;
        this.patchFrames += patches;
        this.patchBytes += bytes;
      }
    }
  }

  // hash is FNV-1a over a 64x36 copy, with the low bits of each channel
  // dropped so that video noise does not count as a change.
  hash(c) {
    this.sampleCtx.drawImage(c, 0, 0, SAMPLE_W, SAMPLE_H);
    const d = this.sampleCtx.getImageData(0, 0, SAMPLE_W, SAMPLE_H).data;
    let h = 0x811c9dc5;
    for (let i = 0; i < d.length; i++) {
      h ^= d[i] >> 2;
      h = Math.imul(h, 0x01000193);
    }
    return h >>> 0 || 1;
  }
}
