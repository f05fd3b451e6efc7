// Sketch draws with pointer events (mouse, touch and pen) on the page's own
// layer, the #source canvas, which has a transparent background. It also
// has a keyboard brush: arrow keys move it, Space puts it down or lifts it,
// Escape lifts it. onDraw(rect) gets the rectangle each change touched
// ({x0, y0, x1, y1} in canvas pixels; null for the whole layer).
export class Sketch {
  constructor(canvas, { cursor = null, onDraw = () => {}, onStrokeEnd = () => {} } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.cursor = cursor;
    this.onDraw = onDraw;
    this.onStrokeEnd = onStrokeEnd;
    this.color = "#1f6feb";
    this.width = 6;
    this.eraser = false;
    this.blank = true; // nothing drawn since the last clear
    this.active = null; // pointerId of the stroke in progress
    this.last = null;
    this.kbd = { x: canvas.width / 2, y: canvas.height / 2, down: false };

    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    canvas.addEventListener("lostpointercapture", (e) => this.up(e));
    canvas.addEventListener("keydown", (e) => this.key(e));
    canvas.addEventListener("focus", () => this.showCursor());
    canvas.addEventListener("blur", () => this.hideCursor());
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return {
      x: ((e.clientX - r.left) / r.width) * this.canvas.width,
      y: ((e.clientY - r.top) / r.height) * this.canvas.height,
      p: e.pointerType === "pen" && e.pressure > 0 ? e.pressure : 0.5,
    };
  }

  down(e) {
    if (this.active !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    this.active = e.pointerId;
    try {
      this.canvas.setPointerCapture(e.pointerId);
    } catch {
      // synthetic or already released pointer: drawing still works
    }
    this.last = this.point(e);
    this.segment(this.last, this.last);
  }

  move(e) {
    if (e.pointerId !== this.active) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ce of events.length ? events : [e]) {
      const p = this.point(ce);
      this.segment(this.last, p);
      this.last = p;
    }
  }

  up(e) {
    if (e.pointerId !== this.active) return;
    this.active = null;
    this.last = null;
    this.onStrokeEnd();
  }

  segment(a, b) {
    const ctx = this.ctx;
    ctx.save();
    ctx.globalCompositeOperation = this.eraser ? "destination-out" : "source-over";
    ctx.strokeStyle = this.color;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    const lw = Math.max(1, this.width * (this.eraser ? 2 : 1) * b.p * 2);
    ctx.lineWidth = lw;
    ctx.beginPath();
    ctx.moveTo(a.x, a.y);
    ctx.lineTo(b.x + (a.x === b.x && a.y === b.y ? 0.01 : 0), b.y);
    ctx.stroke();
    ctx.restore();
    if (!this.eraser) this.blank = false;
    const m = lw / 2 + 2; // half the line, and its antialiased edge
    this.onDraw({ x0: Math.min(a.x, b.x) - m, y0: Math.min(a.y, b.y) - m, x1: Math.max(a.x, b.x) + m, y1: Math.max(a.y, b.y) + m });
  }

  clear() {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.blank = true;
    this.onDraw(null);
  }

  // drawImage puts img onto the layer, fitted and centred (never enlarged).
  // silent skips onDraw, for a layer restored from the relay.
  drawImage(img, { silent = false } = {}) {
    const { width: w, height: h } = this.canvas;
    const s = Math.min(w / img.width, h / img.height, 1);
    const dw = img.width * s;
    const dh = img.height * s;
    const x = (w - dw) / 2;
    const y = (h - dh) / 2;
    this.ctx.drawImage(img, x, y, dw, dh);
    this.blank = false;
    if (!silent) this.onDraw({ x0: x - 1, y0: y - 1, x1: x + dw + 1, y1: y + dh + 1 });
  }

  // drawPatch puts a patch of this layer, as the relay kept it, at (x, y):
  // its pixels replace what they cover, transparent ones included.
  drawPatch(img, x, y) {
    this.ctx.clearRect(x, y, img.width, img.height);
    this.ctx.drawImage(img, x, y);
    this.blank = false;
  }

  key(e) {
    const step = e.shiftKey ? 40 : 8;
    const k = this.kbd;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key]) {
      e.preventDefault();
      const from = { x: k.x, y: k.y, p: 0.5 };
      k.x = Math.min(this.canvas.width, Math.max(0, k.x + moves[e.key][0]));
      k.y = Math.min(this.canvas.height, Math.max(0, k.y + moves[e.key][1]));
      if (k.down) this.segment(from, { x: k.x, y: k.y, p: 0.5 });
      this.showCursor();
    } else if (e.key === " " || e.key === "Enter") {
      e.preventDefault();
      k.down = !k.down;
      if (k.down) this.segment({ x: k.x, y: k.y, p: 0.5 }, { x: k.x, y: k.y, p: 0.5 });
      else this.onStrokeEnd();
      this.showCursor();
    } else if (e.key === "Escape" && k.down) {
      k.down = false;
      this.onStrokeEnd();
      this.showCursor();
    }
  }

  showCursor() {
    const c = this.cursor;
    if (!c) return;
    const r = this.canvas.getBoundingClientRect();
    const parent = c.offsetParent ? c.offsetParent.getBoundingClientRect() : { left: 0, top: 0 };
    c.hidden = false;
    c.style.left = r.left - parent.left + (this.kbd.x / this.canvas.width) * r.width + "px";
    c.style.top = r.top - parent.top + (this.kbd.y / this.canvas.height) * r.height + "px";
    c.classList.toggle("down", this.kbd.down);
  }

  hideCursor() {
    if (this.cursor) this.cursor.hidden = true;
    if (this.kbd.down) {
      this.kbd.down = false;
      this.onStrokeEnd();
    }
  }
}

// wireBrushControls connects the page's #color, #width and #eraser
// controls to sketch (the whiteboard and the game share them).
export function wireBrushControls(sketch) {
  const $ = (id) => document.getElementById(id);
  $("color").addEventListener("input", (e) => {
    sketch.color = e.target.value;
    sketch.eraser = false;
    $("eraser").setAttribute("aria-pressed", "false");
  });
  $("width").addEventListener("input", (e) => {
    sketch.width = Number(e.target.value);
    e.target.setAttribute("aria-valuetext", e.target.value + " pixels");
  });
  $("eraser").addEventListener("click", (e) => {
    sketch.eraser = !sketch.eraser;
    e.currentTarget.setAttribute("aria-pressed", String(sketch.eraser));
  });
}
