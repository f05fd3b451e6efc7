// ShareEncoder runs in the socket worker: it takes each captured screen
// frame (an ImageBitmap), compares it in tiles with the last frame it sent,
// and sends only the changed region as a patch (docs/patches.md): the
// bounding box of the changed tiles, or a full frame when that box covers
// half the frame or more, when asked (the first frame, the periodic
// keyframe, a keyframe request), or when the size changed. A frame with no
// changed tile is not sent. Patch corners sit on the tile grid, so a JPEG
// patch's blocks line up with the picture's.
export const TILE = 32;
// NOISE: a channel must move more than this for a pixel to count as
// changed (video capture jitters in the low bits).
const NOISE = 12;

export class ShareEncoder {
  constructor(publish) {
    this.publish = publish; // (blob, at) => void
    this.prev = null; // {w, h, data}: the pixels of the last frame sent
    this.canvas = null;
    this.ctx = null;
  }

  reset() {
    this.prev = null;
  }

  // encode returns {skipped, patch, bytes}.
  async encode(bitmap, { type, quality, full }) {
    const w = bitmap.width;
    const h = bitmap.height;
    if (!this.canvas || this.canvas.width !== w || this.canvas.height !== h) {
      this.canvas = new OffscreenCanvas(w, h);
      this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    }
    this.ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    const data = this.ctx.getImageData(0, 0, w, h).data;
    const prev = this.prev;
    let box = null;
    if (!full && prev && prev.w === w && prev.h === h) {
      box = changedBox(prev.data, data, w, h);
      if (!box) return { skipped: true, patch: false, bytes: 0 };
      if (box.w * box.h * 2 >= w * h) box = null;
    }
    let blob;
    if (box) {
      const c = new OffscreenCanvas(box.w, box.h);
      c.getContext("2d").drawImage(this.canvas, box.x, box.y, box.w, box.h, 0, 0, box.w, box.h);
      blob = await c.convertToBlob({ type, quality });
    } else {
      blob = await this.canvas.convertToBlob({ type, quality });
    }
    this.prev = { w, h, data };
    this.publish(blob, box ? { x: box.x, y: box.y } : null);
    return { skipped: false, patch: !!box, bytes: blob.size };
  }
}

// changedBox returns the bounding box, on the tile grid, of the tiles
// where a and b differ by more than NOISE, or null.
export function changedBox(a, b, w, h) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  for (let ty = 0; ty < h; ty += TILE) {
    const th = Math.min(TILE, h - ty);
    for (let tx = 0; tx < w; tx += TILE) {
      if (tx >= x0 && tx + TILE <= x1 && ty + th <= y1) continue; // inside the box already
      const tw = Math.min(TILE, w - tx);
      if (!tileDiffers(a, b, w, tx, ty, tw, th)) continue;
      x0 = Math.min(x0, tx);
      y0 = Math.min(y0, ty);
      x1 = Math.max(x1, tx + tw);
      y1 = Math.max(y1, ty + th);
    }
  }
  if (x1 < 0) return null;
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

function tileDiffers(a, b, w, tx, ty, tw, th) {
  for (let y = ty; y < ty + th; y++) {
    let i = (y * w + tx) * 4;
    const end = i + tw * 4;
    for (; i < end; i++) {
      const d = a[i] - b[i];
      if (d > NOISE || d < -NOISE) return true;
    }
  }
  return false;
}
