// The draw-and-guess page, /g/{room}. The relay referees (see
// docs/game.md): this page only shows what it is told. Enter in the guess
// box starts a game when none runs (and the box is empty); otherwise it
// sends the text, which the relay treats as a guess during a turn. The
// drawer sees the word and draws on #source; the others see the hint, a
// countdown to ends_at and the drawing on #destination.
import { $, clientId, keepIdentity, savedName, saveName, rememberRoom, validRoom, wsURL } from "./common.js";
import { openSocket } from "./socket.js";
import { Compositor } from "./layers.js";
import { Sketch, wireBrushControls } from "./draw.js";
import { Publisher } from "./publisher.js";
import { showStatus, showPresence, showError } from "./status.js";
import { Scoreboard, Countdown, addLine, spaced } from "./game-view.js";
import { Type, Code, Presence, GameEvent, GameAction } from "./contract.js";

// DRAWER_POINTS mirrors the relay's scoring (relay/game: DrawerPoints) so
// that the drawer's score moves with each guess; reveal brings the
// server's numbers.
const DRAWER_POINTS = 25;
// JOIN_BURST_MS: events this soon after hello came with it (the layers, and
// start and turn for a member who joins during a game).
const JOIN_BURST_MS = 500;

const room = gameRoomFromPath();
const state = {
  client: "",
  name: savedName(),
  hellos: 0,
  helloAt: 0,
  connected: false,
  statuses: [],
  restoring: false, // our layer came back from the relay; its patches follow
  patchErrors: new Set(), // seqs of our patches the relay refused (handled, not shown)
};
// game is what the relay told us about the game in this room.
const game = {
  running: false,
  by: "",
  turn: null, // the last turn event
  word: "", // only when we draw
  phase: "idle", // idle | drawing | guessing | guessed | reveal
  reveals: 0,
  overs: 0,
  winner: null,
};
let sock = null;

const source = $("source");
const compositor = new Compositor($("destination"), { own: source });
const scores = new Scoreboard($("scores"));
const countdown = new Countdown($("countdown"));
const publisher = new Publisher({
  canvas: source,
  send: (blob, at) => sock && sock.publish(blob, at),
  encoder: () => (sock && sock.encodes ? sock.encode : null),
});
publisher.onSent = () => (state.restoring = false);
const sketch = new Sketch(source, {
  cursor: $("kbdCursor"),
  onDraw: (rect) => {
    state.restoring = false;
    compositor.schedule();
    if (mayDraw()) publisher.changed(false, rect);
  },
  onStrokeEnd: () => {
    if (mayDraw()) publisher.flush();
  },
});

function gameRoomFromPath(pathname = location.pathname) {
  const m = /^\/g\/([^/]+)$/.exec(pathname);
  if (!m) return "";
  try {
    const r = decodeURIComponent(m[1]);
    return validRoom(r) ? r : "";
  } catch {
    return "";
  }
}

// mayDraw: the drawer during a turn; anyone when no turn runs (the board is
// a plain shared whiteboard then). In the pause after a reveal nobody does.
function mayDraw() {
  if (!game.running) return true;
  return game.phase === "drawing";
}

function clearBoard() {
  publisher.reset(); // the relay cleared our layer: the next snapshot is a full frame
  sketch.ctx.clearRect(0, 0, source.width, source.height);
  sketch.blank = true;
  for (const client of [...compositor.layers.keys()]) compositor.delete(client);
  compositor.schedule();
}

// render updates the banner, the tools and the guess box from game.
function render() {
  const banner = $("banner");
  banner.dataset.phase = game.phase;
  const t = game.turn;
  const drawerName = t ? t.name || "Someone" : "";
  let phase = "Press Enter to start a game.";
  let label = "";
  if (game.running && t) {
    const of = `Turn ${t.turn} of ${t.turns}`;
    switch (game.phase) {
      case "drawing":
        phase = `${of}: you are drawing. Draw this:`;
        break;
      case "guessing":
        phase = `${of}: ${drawerName} is drawing. Guess the word!`;
        label = `${t.length} letters`;
        break;
      case "guessed":
        phase = `${of}: you guessed it! ${drawerName} is drawing.`;
        label = `${t.length} letters`;
        break;
      case GameEvent.REVEAL:
        phase = `${of} is over. Next turn soon…`;
        label = "The word was";
        break;
    }
  } else if (game.overs > 0) {
    phase = "Game over. Press Enter to start a new game.";
  }
  $("phase").textContent = phase;
  $("wordLabel").textContent = label;
  $("wordLabel").hidden = !label;
  const showWord = game.phase === "drawing" || game.phase === "reveal";
  $("word").textContent = showWord ? game.word : "";
  $("word").hidden = !showWord || !game.word;
  const showHint = game.phase === "guessing" || game.phase === "guessed";
  $("hint").textContent = showHint && t ? spaced(t.hint) : "";
  $("hint").hidden = !showHint;
  if (showHint) $("hint").setAttribute("aria-label", `hint: ${t.length} letters`);

  const draw = mayDraw();
  $("stage").classList.toggle("locked", !draw);
  source.tabIndex = draw ? 0 : -1;
  $("tools").hidden = !draw;
  $("drawHelp").hidden = !draw;

  const input = $("guess");
  if (!game.running) input.placeholder = "Press Enter to start a game, or type to chat";
  else if (game.phase === "drawing") input.placeholder = "Chat (you are drawing: no hints!)";
  else if (game.phase === "guessing") input.placeholder = "Type your guess and press Enter";
  else input.placeholder = "Chat";
  updateSendLabel();
  $("stop").hidden = !(game.running && game.by === state.client);
  for (const id of ["rounds", "seconds"]) $(id).disabled = game.running;
  scores.drawer = game.running && t && game.phase !== "reveal" ? t.drawer : "";
  scores.me = state.client;
  scores.render();
}

function updateSendLabel() {
  const empty = $("guess").value.trim() === "";
  let label = "Send";
  if (!game.running && empty) label = "Start game";
  else if (game.phase === "guessing") label = "Guess";
  $("send").textContent = label;
}

function onGame(m) {
  switch (m.event) {
    case GameEvent.START: {
      const again = game.running && game.by === m.by; // a reconnect or a reload
      game.running = true;
      game.by = m.by;
      if (again) for (const p of m.players || []) scores.add(p.client, p.name);
      else {
        scores.reset(m.players || []);
        const names = (m.players || []).map((p) => p.name).join(", ");
        addLine("line-game", "", `A game started: ${m.rounds} round${m.rounds === 1 ? "" : "s"} of ${m.seconds} s turns. Players: ${names}.`);
      }
      game.phase = "idle";
      break;
    }
    case GameEvent.TURN: {
      const fresh = !game.turn || game.turn.turn !== m.turn || !game.running;
      game.running = true;
      game.turn = m;
      game.word = m.word || "";
      if (fresh) {
        scores.guessed.clear();
        // The relay cleared the layers at this turn: clear ours too. But a
        // page that just joined (or reloaded) got this turn right after
        // hello and the layers, and those layers are this turn's drawing.
        if (performance.now() - state.helloAt > JOIN_BURST_MS) clearBoard();
        addLine("line-game", "", m.word ? `Turn ${m.turn} of ${m.turns}: your turn to draw "${m.word}".` : `Turn ${m.turn} of ${m.turns}: ${m.name || "someone"} is drawing.`);
      }
      scores.add(m.drawer, m.name);
      game.phase = m.word ? "drawing" : scores.guessed.has(state.client) ? "guessed" : "guessing";
      countdown.start(m.ends_at);
      break;
    }
    case GameEvent.GUESSED: {
      scores.addPoints(m.client, m.points, m.name);
      if (game.turn) scores.addPoints(game.turn.drawer, DRAWER_POINTS);
      scores.guessed.add(m.client);
      const me = m.client === state.client;
      if (me) game.phase = "guessed";
      addLine("line-game", "", me ? `You guessed it! +${m.points}` : `${m.name || "Someone"} guessed the word! +${m.points}`);
      break;
    }
    case GameEvent.REVEAL:
      game.reveals++;
      game.word = m.word;
      game.phase = "reveal";
      scores.set(m.scores);
      countdown.stop();
      addLine("line-game", "", `The word was "${m.word}".`);
      break;
    case GameEvent.OVER: {
      game.overs++;
      game.running = false;
      game.phase = "idle";
      game.turn = null;
      game.word = "";
      game.winner = m.winner;
      scores.set(m.scores);
      scores.guessed.clear();
      countdown.stop();
      const best = (m.scores || [])[0];
      if (m.winner && best) {
        const you = m.winner === state.client ? " (you!)" : "";
        addLine("line-win", "", `Game over: ${best.name}${you} wins with ${best.score} points.`);
      } else {
        addLine("line-win", "", "Game over: nobody scored.");
      }
      break;
    }
  }
  render();
}

function onMessage(m) {
  switch (m.type) {
    case Type.HELLO:
      state.hellos++;
      state.helloAt = performance.now();
      state.client = keepIdentity(state.client, m);
      // The relay sends the room's layers again after each hello. Our next
      // snapshot is a full frame (the relay may have lost our layer).
      publisher.requireFull();
      for (const client of [...compositor.layers.keys()]) compositor.delete(client);
      showPresence(m.count);
      if (state.hellos === 1) addLine("line-notice", "", `You joined ${m.room}. Press Enter to start a game when everyone is here.`);
      else addLine("line-notice", "", "Reconnected.");
      render();
      break;
    case Type.PRESENCE:
      showPresence(m.count);
      addLine("line-notice", "", `${m.name || "Someone"} ${m.event === Presence.JOIN ? "joined" : "left"} (${m.count} here).`);
      if (m.event === Presence.JOIN && game.running) {
        scores.add(m.client, m.name);
        scores.render();
      }
      break;
    case Type.CHAT:
      addLine("line-chat", m.name || "Anonymous", m.text, m.ts);
      break;
    case Type.GAME:
      onGame(m);
      break;
    case Type.KEYFRAME:
      if (mayDraw()) publisher.changed(true);
      break;
    case Type.ERROR:
      if (state.patchErrors.delete(m.seq)) break; // handled: the whole layer goes next
      showError(m.code, m.message || "");
      break;
  }
}

function onEvent(ev) {
  switch (ev.ev) {
    case "status":
      showStatus(ev, $("reconnect"));
      state.connected = ev.state === "open";
      state.statuses.push(`${ev.state} ${ev.code || ""}`.trim());
      if (state.statuses.length > 20) state.statuses.shift();
      $("send").disabled = !state.connected;
      break;
    case "message":
      onMessage(ev.msg);
      break;
    case "frame":
      if (ev.meta.client === state.client) {
        // our own layer, kept by the relay: ours is on #source already,
        // unless this page is fresh (its full frame, then the patches since)
        if (ev.meta.patch === true) {
          if (state.restoring) {
            sketch.drawPatch(ev.bitmap, ev.meta.x, ev.meta.y);
            compositor.schedule();
          }
        } else if (sketch.blank && mayDraw()) {
          sketch.drawImage(ev.bitmap, { silent: true });
          state.restoring = true;
          compositor.schedule();
        }
        ev.bitmap.close();
        return;
      }
      compositor.set(ev.meta, ev.bitmap, ev.arrival);
      break;
    case "frameError":
      showError(Code.INVALID_IMAGE, `A picture from ${ev.meta.name || "someone"} could not be decoded: ${ev.message}`);
      break;
    case "patchRefused":
      // The relay did not take a patch: send the whole layer.
      state.patchErrors.add(ev.seq);
      if (state.patchErrors.size > 64) state.patchErrors.delete(state.patchErrors.values().next().value);
      if (ev.code === Code.PATCHES_UNSUPPORTED) publisher.patches = false;
      if (mayDraw()) publisher.changed(true);
      break;
    case "encoded":
      publisher.encoded(ev);
      break;
    case "needFull":
      if (mayDraw()) publisher.changed(true);
      break;
    case "busy":
      publisher.setBusy(ev.busy);
      break;
  }
}

async function send(obj) {
  if (!sock || !(await sock.sendText(JSON.stringify(obj)))) {
    showError("offline", "Not connected: nothing was sent.");
    return false;
  }
  return true;
}

function startGame() {
  return send({ type: Type.GAME, action: GameAction.START, rounds: Number($("rounds").value), seconds: Number($("seconds").value) });
}

function wireControls() {
  $("guessForm").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("guess");
    const text = input.value.trim();
    if (!text) {
      if (!game.running) await startGame();
      return;
    }
    if (await send({ type: Type.CHAT, text })) {
      // The relay does not echo our own lines; a right guess comes back as
      // "guessed" for everyone instead of this line. A drawer's line with
      // the word is refused (an error says so): it is not shown as sent.
      const refused = game.phase === "drawing" && game.word && text.toLowerCase().includes(game.word.toLowerCase());
      if (!refused) addLine("line-chat mine", (state.name || "Anonymous") + " (you)", text);
      input.value = "";
      updateSendLabel();
    }
  });
  $("guess").addEventListener("input", updateSendLabel);
  // Enter anywhere outside a field (and outside the board, where Enter
  // puts the keyboard brush down) acts on the guess box.
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.defaultPrevented || e.isComposing) return;
    const el = document.activeElement;
    if (el && el !== document.body && el !== document.documentElement) return;
    e.preventDefault();
    $("guess").focus();
    $("guessForm").requestSubmit();
  });
  $("stop").addEventListener("click", () => send({ type: Type.GAME, action: GameAction.STOP }));

  wireBrushControls(sketch);
  $("clear").addEventListener("click", () => {
    sketch.clear();
    if (mayDraw()) publisher.changed(true);
  });

  $("name").value = state.name;
  const rename = () => {
    const name = $("name").value.trim().slice(0, 40);
    if (name === state.name) return;
    state.name = name;
    saveName(name);
    if (sock) sock.connect(wsURL(room, state.name, state.client));
  };
  $("rename").addEventListener("click", rename);
  $("name").addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      rename();
    }
  });
  $("reconnect").addEventListener("click", () => sock && sock.retry());
  addEventListener("online", () => sock && sock.retry());
}

async function main() {
  document.title = `${room} · draw and guess · canvasrelay`;
  $("roomName").textContent = room;
  $("boardLink").href = "/r/" + encodeURIComponent(room);
  rememberRoom(room);
  wireControls();
  render();
  state.client = await clientId();
  sock = await openSocket({ url: wsURL(room, state.name, state.client), onEvent });
  $("guess").focus();
  // A small hook for tests and debugging in the console.
  window.canvasrelay = {
    get client() {
      return state.client;
    },
    get hellos() {
      return state.hellos;
    },
    get mode() {
      return sock.mode;
    },
    get statuses() {
      return state.statuses.slice();
    },
    get patchesSent() {
      return publisher.patchesSent;
    },
    get patchesReceived() {
      return compositor.patches;
    },
    get game() {
      return {
        running: game.running,
        phase: game.phase,
        turn: game.turn && game.turn.turn,
        drawer: game.turn ? game.turn.drawer : "",
        word: game.word,
        reveals: game.reveals,
        overs: game.overs,
        winner: game.winner,
        scores: Object.fromEntries([...scores.rows].map(([c, r]) => [c, r.score])),
      };
    },
  };
}

if (room) {
  main();
} else {
  $("serverStatus").textContent = "error: invalid room name";
}
