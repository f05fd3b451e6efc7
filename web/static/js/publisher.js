// Publisher turns the page's layer into PNG snapshots for the relay:
// throttled while a stroke goes on, at once when it ends. It never encodes
// while the socket is busy (back-pressure) or while an encode is running;
// it remembers that the layer changed and sends one fresh snapshot later.
export class Publisher {
  constructor({ canvas, send, check = () => null, throttleMs = 200 }) {
    this.canvas = canvas;
    this.send = send; // (blob) => void
    this.check = check; // (blob) => null | {code, message}: refuse before sending
    this.throttleMs = throttleMs;
    this.dirty = false;
    this.encoding = false;
    this.busy = false;
    this.lastAt = 0;
    this.timer = 0;
    this.onRefused = () => {};
  }

  // changed marks the layer as changed. now=true sends as soon as possible
  // (the end of a stroke); otherwise at most once per throttle period.
  changed(now = false) {
    this.dirty = true;
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
    if (!busy && this.dirty) this.changed(true);
  }

  snapshot() {
    if (!this.dirty || this.encoding || this.busy) return;
    this.dirty = false;
    this.encoding = true;
    this.lastAt = performance.now();
    this.canvas.toBlob((blob) => {
      this.encoding = false;
      if (blob) {
        const refused = this.check(blob);
        if (refused) this.onRefused(refused);
        else this.send(blob);
      }
      if (this.dirty) this.changed(false);
    }, "image/png");
  }
}
