// The game page's views: the scoreboard, the banner's countdown and the
// log of guesses, chat and notices. No socket here: game.js feeds them.
import { $ } from "./common.js";

const MAX_LOG_LINES = 200;

// Scoreboard keeps each player's score (by client id) and draws the list,
// highest first; equal scores keep the order players were added in.
export class Scoreboard {
  constructor(list) {
    this.list = list;
    this.rows = new Map(); // client -> {name, score, order}
    this.me = "";
    this.drawer = "";
    this.guessed = new Set();
  }

  reset(players = []) {
    this.rows.clear();
    this.guessed.clear();
    this.drawer = "";
    for (const p of players) this.add(p.client, p.name);
    this.render();
  }

  add(client, name) {
    if (!client) return;
    const row = this.rows.get(client);
    if (row) {
      if (name) row.name = name;
      return;
    }
    this.rows.set(client, { name: name || "Anonymous", score: 0, order: this.rows.size });
  }

  addPoints(client, points, name) {
    this.add(client, name);
    this.rows.get(client).score += points;
  }

  // set takes the server's scores (reveal, over) as the truth.
  set(scores) {
    for (const s of scores || []) {
      this.add(s.client, s.name);
      this.rows.get(s.client).score = s.score;
    }
  }

  score(client) {
    const r = this.rows.get(client);
    return r ? r.score : 0;
  }

  nameOf(client) {
    const r = this.rows.get(client);
    return r ? r.name : "";
  }

  render() {
    const sorted = [...this.rows.entries()].sort((a, b) => b[1].score - a[1].score || a[1].order - b[1].order);
    const frag = document.createDocumentFragment();
    for (const [client, r] of sorted) {
      const li = document.createElement("li");
      li.dataset.client = client;
      li.classList.toggle("drawer", client === this.drawer);
      li.classList.toggle("guessed", this.guessed.has(client));
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = r.name + (client === this.me ? " (you)" : "");
      li.append(who);
      if (client === this.drawer) {
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = "drawing";
        li.append(tag);
      }
      const pts = document.createElement("span");
      pts.className = "pts";
      pts.textContent = String(r.score);
      li.append(pts);
      const label = `${r.name}${client === this.me ? " (you)" : ""}: ${r.score} points${client === this.drawer ? ", drawing" : ""}${this.guessed.has(client) ? ", guessed" : ""}`;
      li.setAttribute("aria-label", label);
      frag.append(li);
    }
    this.list.replaceChildren(frag);
  }
}

// Countdown shows the time left until endsAt (ms since the epoch) in el.
export class Countdown {
  constructor(el) {
    this.el = el;
    this.timer = 0;
    this.endsAt = 0;
  }

  start(endsAt) {
    this.endsAt = endsAt;
    this.el.hidden = false;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), 250);
    this.tick();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = 0;
    this.el.hidden = true;
  }

  get left() {
    return Math.max(0, Math.ceil((this.endsAt - Date.now()) / 1000));
  }

  tick() {
    const s = this.left;
    this.el.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    this.el.setAttribute("aria-label", `${s} seconds left`);
    this.el.classList.toggle("low", s <= 10);
    if (s === 0) clearInterval(this.timer);
  }
}

// addLine appends one line to the log: kind is a class (line-chat,
// line-notice, line-game, line-win), who may be empty.
export function addLine(kind, who, text, ts = Date.now()) {
  const log = $("chatLog");
  const li = document.createElement("li");
  li.className = kind;
  const time = document.createElement("time");
  const d = new Date(ts);
  time.dateTime = d.toISOString();
  time.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  li.append(time, " ");
  if (who) {
    const b = document.createElement("b");
    b.textContent = who;
    li.append(b, ": ");
  }
  li.append(text);
  log.append(li);
  while (log.children.length > MAX_LOG_LINES) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

// spaced widens the gaps between the words of a hint ("___ _____"); the
// CSS letter-spacing keeps the blanks apart.
export function spaced(hint) {
  return hint.replaceAll(" ", "   ");
}
