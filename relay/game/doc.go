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
// Each room gets a referee when the room is made. A referee with no game
// running holds no goroutine and no timer; a running game holds one
// time.AfterFunc timer, reset to its next deadline (the turn's end, the end
// of the pause, a player's leave grace) and stopped when the game ends or
// the room empties.
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
// Scoring: a guess with a fraction f of the turn left is worth
// GuessBase + floor(GuessBonus × f) points (100 at once, 50 at the end);
// the drawer gets DrawerPoints for each member who guesses.
package game
