// Shared page pieces: the #serverStatus line, the presence count, the
// connection panel and the error region.
import { $, describeClose } from "./common.js";

export function showStatus(ev, reconnectButton) {
  const el = $("serverStatus");
  let text = ev.state;
  if (ev.state === "open") text = "open";
  else if (ev.state === "connecting") text = ev.attempt ? "connecting (attempt " + (ev.attempt + 1) + ")" : "connecting";
  else if (ev.state === "retrying") text = describeClose(ev.code, ev.reason) + "; retrying in " + (ev.retryIn / 1000).toFixed(1) + " s";
  else if (ev.state === "stopped") text = "error: " + describeClose(ev.code, ev.reason) + ". Not retrying.";
  else if (ev.state === "closed") text = "closed";
  el.textContent = text;
  el.dataset.state = ev.state;
  if (reconnectButton) reconnectButton.hidden = ev.state !== "stopped";
}

export function showPresence(count) {
  $("presence").textContent = count + " connected";
}

const MAX_ERRORS = 3;

// showError shows an error to the user until dismissed or replaced.
export function showError(code, message) {
  const box = $("errors");
  const item = document.createElement("div");
  item.className = "error-item";
  item.dataset.code = code;
  const text = document.createElement("span");
  text.textContent = (code ? code + ": " : "") + message;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "small secondary";
  close.textContent = "×";
  close.setAttribute("aria-label", "Dismiss error");
  close.addEventListener("click", () => item.remove());
  item.append(text, close);
  box.prepend(item);
  while (box.children.length > MAX_ERRORS) box.lastElementChild.remove();
}

export function renderInfo(dl, info, extra = {}) {
  if (!dl) return;
  const rows = { ...info, ...extra };
  const frag = document.createDocumentFragment();
  for (const [k, v] of Object.entries(rows)) {
    const dt = document.createElement("dt");
    dt.textContent = k;
    const dd = document.createElement("dd");
    dd.textContent = v === "" ? "(none)" : String(v);
    dd.dataset.key = k;
    frag.append(dt, dd);
  }
  dl.replaceChildren(frag);
}
