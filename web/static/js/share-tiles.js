// ShareEncoder runs in the socket worker: it takes each captured screen
// frame (an ImageBitmap), compares it in tiles with the picture it has sent
// so far, and sends only what changed (docs/patches.md): a few patches, one
// per group of changed tiles (planPatches), or a full frame when the
// patches would cover half the frame or more, when asked (the first frame,
// the periodic keyframe, a keyframe request), or when the size changed. A
// frame with no changed tile is not sent. Patch corners sit on the tile
// grid, so a JPEG patch's blocks line up with the picture's.
//
// The patches of one frame are all encoded before any is published, then
// published in order: the relay keeps them in order and never drops one
// from the middle, so a viewer that applies them ends with this frame.
export const TILE = 32;
// NOISE: a channel must move more than this for a pixel to count as
// changed (video capture jitters in the low bits). The picture kept for
// comparison is what was sent, so a slow drift adds up until it is sent.
const NOISE = 12;
// MAX_PATCHES bounds the patches of one frame. MERGE_TILES: two groups go
// as one patch when their bounding box adds at most this many unchanged
// tiles (each patch costs a command, a frame event, an image header and a
// decode on every viewer). MAX_GROUPS: past this many separate groups the
// changes are scattered all over, and one bounding box is sent.
export const MAX_PATCHES = 4;
export const MERGE_TILES = 4;
export const MAX_GROUPS = 32;

export class ShareEncoder {
  constructor(publish) {
    this.publish = publish; // (blob, at) => void
    this.prev = null; // {w, h, data}: the picture sent so far
    this.canvas = null;
    this.ctx = null;
  }

  // reset makes the next frame a full frame.
  reset() {
    this.prev = null;
  }

  // encode returns {skipped, deferred, patch, patches, bytes}: patches is
  // how many patch images went (0 for a full frame). deferred: nothing
  // went, since reset() came while the patches were encoded (the next
  // frame goes whole).
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
    let rects = null; // null: a full frame
    if (!full && prev && prev.w === w && prev.h === h) {
      const grid = changedTiles(prev.data, data, w, h);
      if (!grid.count) return { skipped: true, patch: false, patches: 0, bytes: 0 };
      rects = tileRectsToPixels(planPatches(grid.tiles, grid.cols, grid.rows), w, h);
      let area = 0;
      for (const r of rects) area += r.w * r.h;
      if (area * 2 >= w * h) rects = null;
    }
    if (!rects) {
      const blob = await this.canvas.convertToBlob({ type, quality });
      this.prev = { w, h, data };
      this.publish(blob, null);
      return { skipped: false, patch: false, patches: 0, bytes: blob.size };
    }
    const blobs = [];
    for (const r of rects) {
      const c = new OffscreenCanvas(r.w, r.h);
      c.getContext("2d").drawImage(this.canvas, r.x, r.y, r.w, r.h, 0, 0, r.w, r.h);
      blobs.push(await c.convertToBlob({ type, quality }));
    }
    if (this.prev !== prev) return { skipped: false, deferred: true, patch: false, patches: 0, bytes: 0 };
    let bytes = 0;
    rects.forEach((r, i) => {
      copyRect(data, prev.data, w, r);
      this.publish(blobs[i], { x: r.x, y: r.y });
      bytes += blobs[i].size;
    });
    return { skipped: false, patch: true, patches: rects.length, bytes };
  }
}

// changedTiles compares a and b (RGBA, w×h) in TILE×TILE tiles: tiles[i]
// is 1 where some channel differs by more than NOISE (tile i is at column
// i % cols, row i / cols); count is how many are.
export function changedTiles(a, b, w, h) {
  const cols = Math.ceil(w / TILE);
  const rows = Math.ceil(h / TILE);
  const tiles = new Uint8Array(cols * rows);
  let count = 0;
  for (let r = 0; r < rows; r++) {
    const ty = r * TILE;
    const th = Math.min(TILE, h - ty);
    for (let c = 0; c < cols; c++) {
      const tx = c * TILE;
      if (tileDiffers(a, b, w, tx, ty, Math.min(TILE, w - tx), th)) {
        tiles[r * cols + c] = 1;
        count++;
      }
    }
  }
  return { tiles, cols, rows, count };
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

// planPatches groups the changed tiles of a cols×rows grid (tiles[i] != 0)
// into at most maxPatches rectangles, in tile units ({x, y, w, h}), that
// cover every changed tile and do not overlap. It is a pure function:
// the same grid always gives the same rectangles, in the same order.
//
// Tiles that touch (diagonals too) form a group; groups start as their
// bounding boxes, in the order of their first tile (row by row). Then,
// while two boxes overlap, or there are more than maxPatches, or two boxes
// would waste at most mergeTiles unchanged tiles as one, the pair whose
// union wastes the fewest tiles (overlapping pairs first; the first such
// pair on a tie) becomes their bounding box. More than maxGroups groups:
// one bounding box of everything.
export function planPatches(tiles, cols, rows, { maxPatches = MAX_PATCHES, mergeTiles = MERGE_TILES, maxGroups = MAX_GROUPS } = {}) {
  const boxes = tileGroups(tiles, cols, rows, maxGroups);
  if (boxes === null) return [boundingBox(tiles, cols, rows)];
  for (;;) {
    let best = -1;
    let bestJ = -1;
    let bestCost = Infinity;
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const cost = mergeCost(boxes[i], boxes[j]);
        if (cost < bestCost) {
          bestCost = cost;
          best = i;
          bestJ = j;
        }
      }
    }
    if (best < 0 || (boxes.length <= maxPatches && bestCost > mergeTiles)) break;
    boxes[best] = union(boxes[best], boxes[bestJ]);
    boxes.splice(bestJ, 1);
  }
  return boxes;
}

// tileGroups returns the bounding boxes of the groups of touching changed
// tiles, in the order of their first tile, or null past maxGroups.
function tileGroups(tiles, cols, rows, maxGroups) {
  const seen = new Uint8Array(tiles.length);
  const stack = [];
  const boxes = [];
  for (let start = 0; start < tiles.length; start++) {
    if (!tiles[start] || seen[start]) continue;
    if (boxes.length === maxGroups) return null;
    let x0 = cols, y0 = rows, x1 = -1, y1 = -1;
    seen[start] = 1;
    stack.push(start);
    while (stack.length) {
      const i = stack.pop();
      const x = i % cols;
      const y = (i - x) / cols;
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
      for (let ny = Math.max(0, y - 1); ny <= Math.min(rows - 1, y + 1); ny++) {
        for (let nx = Math.max(0, x - 1); nx <= Math.min(cols - 1, x + 1); nx++) {
          const n = ny * cols + nx;
          if (tiles[n] && !seen[n]) {
            seen[n] = 1;
            stack.push(n);
          }
        }
      }
    }
    boxes.push({ x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 });
  }
  return boxes;
}

function boundingBox(tiles, cols, rows) {
  let x0 = cols, y0 = rows, x1 = -1, y1 = -1;
  for (let i = 0; i < tiles.length; i++) {
    if (!tiles[i]) continue;
    const x = i % cols;
    const y = (i - x) / cols;
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x);
    y1 = Math.max(y1, y);
  }
  return { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

function union(a, b) {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
}

// mergeCost is the tiles that one box around a and b covers beyond a and
// b, or -1 when a and b overlap (they must become one).
function mergeCost(a, b) {
  const ow = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const oh = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (ow > 0 && oh > 0) return -1;
  const u = union(a, b);
  return u.w * u.h - a.w * a.h - b.w * b.h;
}

// tileRectsToPixels turns tile rectangles into pixel ones, cut at the
// frame's right and bottom edges.
export function tileRectsToPixels(rects, w, h) {
  return rects.map((r) => {
    const x = r.x * TILE;
    const y = r.y * TILE;
    return { x, y, w: Math.min(w, (r.x + r.w) * TILE) - x, h: Math.min(h, (r.y + r.h) * TILE) - y };
  });
}

// copyRect copies rectangle r of src into dst (RGBA, w pixels a row).
function copyRect(src, dst, w, r) {
  for (let y = r.y; y < r.y + r.h; y++) {
    const i = (y * w + r.x) * 4;
    dst.set(src.subarray(i, i + r.w * 4), i);
  }
}
