// Compositor keeps each publisher's newest picture (a "layer", keyed by the
// client id of the frame event) and draws them onto one canvas: layers in
// the order they first arrived, then the page's own layer on top.
// Transparent pixels stay transparent. Each layer is fitted into the canvas
// (contain, centred), so a 1920x1080 screen and a 1280x720 board line up.
export class Compositor {
  constructor(canvas, { own = null, onChange = () => {} } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.own = own; // the page's own layer (a canvas), drawn last
    this.onChange = onChange;
    this.layers = new Map(); // client -> {bitmap, name, arrival, first}
    this.order = 0;
    this.raf = 0;
    this.patches = 0; // patches applied, for tests
  }

  // canvasOf turns layer l into a canvas (the first patch on it) and
  // returns its context.
  canvasOf(l) {
    if (!l.ctx) {
      const c = document.createElement("canvas");
      c.width = l.width;
      c.height = l.height;
      l.ctx = c.getContext("2d");
      l.ctx.drawImage(l.bitmap, 0, 0);
      release(l.bitmap);
      l.bitmap = c;
    }
    return l.ctx;
  }

  // set replaces client's layer if frame is newer than the one held. A
  // patch (meta.patch) is drawn onto the layer at (meta.x, meta.y) instead,
  // replacing the pixels it covers (transparent ones clear them); a patch
  // for a layer not held (yet) is dropped.
  set(meta, bitmap, arrival) {
    const cur = this.layers.get(meta.client);
    if (cur && cur.arrival > arrival) {
      bitmap.close();
      return;
    }
    if (meta.patch === true) {
      if (cur) {
        const ctx = this.canvasOf(cur);
        ctx.clearRect(meta.x, meta.y, bitmap.width, bitmap.height);
        ctx.drawImage(bitmap, meta.x, meta.y);
        cur.arrival = arrival;
        this.patches++;
        this.schedule();
      }
      bitmap.close();
      return;
    }
    if (cur) release(cur.bitmap);
    this.layers.set(meta.client, {
      bitmap,
      name: meta.name || "",
      arrival,
      first: cur ? cur.first : ++this.order,
      width: bitmap.width,
      height: bitmap.height,
    });
    this.schedule();
  }

  delete(client) {
    const cur = this.layers.get(client);
    if (!cur) return;
    release(cur.bitmap);
    this.layers.delete(client);
    this.schedule();
  }

  get size() {
    return this.layers.size;
  }

  // largest returns the size of the biggest layer, or null.
  largest() {
    let best = null;
    for (const l of this.layers.values()) {
      if (!best || l.width * l.height > best.width * best.height) best = { width: l.width, height: l.height };
    }
    return best;
  }

  schedule() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.draw();
    });
  }

  draw() {
    const { ctx, canvas } = this;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const sorted = [...this.layers.values()].sort((a, b) => a.first - b.first);
    for (const l of sorted) drawFitted(ctx, l.bitmap, canvas.width, canvas.height);
    if (this.own) drawFitted(ctx, this.own, canvas.width, canvas.height);
    this.onChange();
  }
}

// release frees an ImageBitmap; a canvas needs nothing.
function release(img) {
  if (typeof img.close === "function") img.close();
}

export function drawFitted(ctx, img, w, h) {
  const iw = img.width;
  const ih = img.height;
  if (!iw || !ih) return;
  if (iw === w && ih === h) {
    ctx.drawImage(img, 0, 0);
    return;
  }
  const s = Math.min(w / iw, h / ih);
  const dw = iw * s;
  const dh = ih * s;
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(img, (w - dw) / 2, (h - dh) / 2, dw, dh);
}
