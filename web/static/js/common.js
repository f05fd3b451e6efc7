// Shared helpers for the pages: room names, the stable client id and its
// resume, the display name, recent rooms and small DOM utilities.

import { ROOM_RE, Query, Close, Limits } from "./contract.js";

export { ROOM_RE };
const KEY_CLIENTS = "canvasrelay.clients";
const KEY_RESUME = "canvasrelay.resume"; // client id -> its resume (proof of ownership)
const ID_RE = ROOM_RE; // client ids follow the room-name rule
const MAX_IDS = 16;
const KEY_NAME = "canvasrelay.name";
const KEY_RECENT = "canvasrelay.recent";
const MAX_RECENT = 8;

export const $ = (id) => document.getElementById(id);

export function validRoom(name) {
  return ROOM_RE.test(name);
}

// roomFromPath returns the room of /r/{room} or /v/{room}, or "" if absent.
export function roomFromPath(pathname = location.pathname) {
  const m = /^\/[rv]\/([^/]+)$/.exec(pathname);
  if (!m) return "";
  let room = "";
  try {
    room = decodeURIComponent(m[1]);
  } catch {
    return "";
  }
  return validRoom(room) ? room : "";
}

function storageGet(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage disabled: behave as a fresh browser
  }
}

function storageSet(key, value) {
  try {
    localStorage.setItem(key, value);
  } catch {
    // storage full or disabled: nothing to keep
  }
}

function randomId() {
  const b = new Uint8Array(12);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// clientId returns this tab's stable client id. Ids live in localStorage so
// that a reload (or a reconnect) keeps the same one and the relay hands the
// page its own layer back. Two tabs of one browser must not share an id, so
// each tab holds a Web Lock on the id it uses and takes the next free id of
// the list (making a new one if all are taken).
export async function clientId() {
  let ids = [];
  try {
    ids = JSON.parse(storageGet(KEY_CLIENTS) || "[]").filter((x) => typeof x === "string" && ID_RE.test(x));
  } catch {
    ids = [];
  }
  if (!navigator.locks) {
    if (ids.length === 0) ids.push(randomId());
    storageSet(KEY_CLIENTS, JSON.stringify(ids));
    return ids[0];
  }
  for (let i = 0; i <= ids.length; i++) {
    if (i === ids.length) ids.push(randomId());
    const id = ids[i];
    const got = await new Promise((resolve) => {
      navigator.locks.request("canvasrelay.client." + id, { ifAvailable: true }, (lock) => {
        if (!lock) {
          resolve(false);
          return undefined;
        }
        resolve(true);
        return new Promise(() => {}); // held until the page goes away
      }).catch(() => resolve(false));
    });
    if (got) {
      storageSet(KEY_CLIENTS, JSON.stringify(ids.slice(0, MAX_IDS)));
      return id;
    }
  }
  return randomId(); // unreachable: the loop always ends with a new id
}

function resumes() {
  try {
    const m = JSON.parse(storageGet(KEY_RESUME) || "{}");
    return m && typeof m === "object" && !Array.isArray(m) ? m : {};
  } catch {
    return {};
  }
}

// resumeOf is the stored proof that client is ours ("" when none).
export function resumeOf(client) {
  const r = resumes()[client];
  return typeof r === "string" && r.length <= Limits.MAX_RESUME_LEN ? r : "";
}

// keepIdentity takes in a hello: the relay's client id is the one in
// force (it gives a fresh one when the id asked for is held by someone
// else and we could not prove it ours), and its resume proves it on the
// next connection. Both are kept in localStorage; an id replaced by the
// relay's is replaced in the list of this browser's ids. It returns the
// id in force.
export function keepIdentity(asked, hello) {
  const client = typeof hello.client === "string" && ID_RE.test(hello.client) ? hello.client : asked;
  if (!client) return asked;
  const m = resumes();
  if (typeof hello.resume === "string" && hello.resume && hello.resume.length <= Limits.MAX_RESUME_LEN) m[client] = hello.resume;
  let ids = [];
  try {
    ids = JSON.parse(storageGet(KEY_CLIENTS) || "[]").filter((x) => typeof x === "string" && ID_RE.test(x));
  } catch {
    ids = [];
  }
  if (client !== asked) {
    const i = ids.indexOf(asked);
    if (i >= 0) ids[i] = client;
    else ids.push(client);
    delete m[asked];
    if (navigator.locks) {
      // Hold the new id as clientId holds the others, so another tab does not take it.
      navigator.locks.request("canvasrelay.client." + client, { ifAvailable: true }, (lock) => (lock ? new Promise(() => {}) : undefined)).catch(() => {});
    }
  }
  ids = ids.slice(0, MAX_IDS);
  for (const k of Object.keys(m)) if (!ids.includes(k)) delete m[k]; // bounded: only the ids we keep
  storageSet(KEY_CLIENTS, JSON.stringify(ids));
  storageSet(KEY_RESUME, JSON.stringify(m));
  return client;
}

export function savedName() {
  return (storageGet(KEY_NAME) || "").slice(0, 40);
}

export function saveName(name) {
  storageSet(KEY_NAME, name.trim().slice(0, 40));
}

export function recentRooms() {
  try {
    const list = JSON.parse(storageGet(KEY_RECENT) || "[]");
    return Array.isArray(list) ? list.filter((r) => r && validRoom(r.room)).slice(0, MAX_RECENT) : [];
  } catch {
    return [];
  }
}

export function rememberRoom(room) {
  const list = recentRooms().filter((r) => r.room !== room);
  list.unshift({ room, at: Date.now() });
  storageSet(KEY_RECENT, JSON.stringify(list.slice(0, MAX_RECENT)));
}

export function forgetRoom(room) {
  storageSet(KEY_RECENT, JSON.stringify(recentRooms().filter((r) => r.room !== room)));
}

// wsURL is the relay endpoint for room on this page's host, with the
// client id and the stored resume that proves it. Every page applies patch
// frames to the sender's layer, so each asks for them (patches=1).
export function wsURL(room, name, client) {
  const u = new URL("/ws/" + encodeURIComponent(room), location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  u.searchParams.set(Query.PATCHES, "1");
  if (name) u.searchParams.set(Query.NAME, name);
  if (client) {
    u.searchParams.set(Query.CLIENT, client);
    const resume = resumeOf(client);
    if (resume) u.searchParams.set(Query.RESUME, resume);
  }
  return u.href;
}

export function formatBytes(n) {
  if (!Number.isFinite(n)) return "?";
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(n < 10240 ? 1 : 0) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}

// describeClose turns a close event into words for people.
export function describeClose(code, reason) {
  const words = {
    [Close.NORMAL]: "closed normally",
    [Close.GOING_AWAY]: "server going away",
    [Close.ABNORMAL]: "connection lost",
    [Close.INVALID_DATA]: "invalid data",
    [Close.POLICY]: "refused by policy",
    [Close.TOO_BIG]: "message too big",
    1011: "server error",
    1012: "server restarting",
  };
  let s = words[code] || (code >= Close.RELAY_MIN && code <= Close.RELAY_MAX ? "closed by the relay" : "closed");
  s += " (" + code + ")";
  if (reason) s += ": " + reason;
  return s;
}
