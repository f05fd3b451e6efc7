// Package game is the referee of the draw-and-guess game that any relay
// room can host (the "v1 game events" of the wire contract; see
// docs/game.md). One member draws a secret word on the canvas, the others
// guess it in chat, and the server keeps the word from everyone but the
// drawer.
//
// Plug it into a relay with
//
//	srv, err := relay.New(relay.Config{Game: game.Factory(game.Config{})}, log)
//
// and, when the relay's broker spans nodes, with the broker's claim store:
//
//	game.Factory(game.Config{Claims: natsBroker.GameClaims()})
//
// Each room gets a referee when the room is made. A referee changes its
// state under its mutex and acts on the room only after releasing it
// (effects.go), so no network call ever runs under a game's lock. A
// referee with no game running holds no goroutine and no timer; a running
// game holds one time.AfterFunc timer, reset to its next deadline (the
// turn's end, the end of the pause, a player's leave grace) and stopped
// when the game ends or the room empties.
//
// With Config.Claims set, each room gets a coordinator instead
// (cluster.go): exactly one node referees a running game, the one that
// claimed the room when a member there sent start; the others pass their
// members' commands, chat, joins and leaves to it as game inputs, follow
// the game from its events, and end it for their members if the referee's
// claim expires. See docs/game.md, "Several nodes".
//
// Game flow (every event is {"type":"game","event":…}):
//
//	client: {"type":"game","action":"start","rounds":R,"seconds":S}
//	all:    start   {by, rounds, seconds, players:[{client,name}…]}
//	        turn    {turn, turns, drawer, name, hint, length, ends_at}   the drawer's copies add word
//	        guessed {client, name, points}                                 per correct guess
//	        reveal  {word, scores:[{client,name,score}…]}                  time out / all guessed / drawer left
//	        … Config.Pause, then the next turn …
//	        over    {scores, winner}                                       after the last reveal, on stop, <2 players
//
// Seats: only a connection that may both publish and subscribe
// (relay.Player.Plays) plays; viewers and uploads never draw, guess, or
// learn the word (seats.go). Guesses are limited per player (client id),
// by the referee: Config.Guesses a turn, Config.GuessRate a second; one
// over either gets rate_limited and is dropped.
//
// Scoring: a guess with a fraction f of the turn left is worth
// GuessBase + floor(GuessBonus × f) points (100 at once, 50 at the end);
// the drawer gets DrawerPoints for each member who guesses.
package game
