package web_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/relay"
	"github.com/canvasrelay/canvasrelay/relay/game"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestGameBrowser plays the draw-and-guess game in real Chromium: three
// pages in one room (one of them a phone), Enter starts the game, the
// drawer sees the word and the others the hint, a stroke drawn with real
// mouse input reaches both guessers, a guess typed on the phone updates all
// three scoreboards, and the starter stops the game.
func TestGameBrowser(t *testing.T) {
	const word = "giraffe"
	e := newEnv(t, relay.Config{MaxBytes: maxBytes, Game: game.Factory(game.Config{Words: []string{word}, Logger: testLogger(t)})})
	shots := e.shots
	if os.Getenv("CANVASRELAY_SCREENSHOTS") == "" {
		shots = t.ArtifactDir() // go test -artifacts keeps them
	}
	start := time.Now()
	defer func() { t.Logf("game browser test took %s", time.Since(start).Round(time.Millisecond)) }()

	a := e.open(t, "A", "/g/play", pageOpts{})
	b := e.open(t, "B", "/g/play", pageOpts{})
	c := e.open(t, "C (phone)", "/g/play", pageOpts{width: 390, height: 844, mobile: true})
	rename(a, "Alice")
	rename(b, "Bob")
	rename(c, "Carol")
	pages := []*page{a, b, c}
	ids := map[*tab]string{}
	for _, p := range pages {
		p.waitText("presence", "3 connected", 5*time.Second)
		var id string
		p.eval("window.canvasrelay.client", &id)
		ids[p.tab] = id
	}

	// Enter in the empty guess box starts the game. Members draw in join
	// order, and the renames left Alice first.
	b.do(chromedp.Focus(chromedp.ID("guess")), chromedp.SendKeys(chromedp.ID("guess"), kb.Enter))
	for _, p := range pages {
		p.waitTrue("window.canvasrelay.game.running && window.canvasrelay.game.turn === 1", 10*time.Second)
		var drawer string
		p.eval("window.canvasrelay.game.drawer", &drawer)
		if drawer != ids[a.tab] {
			t.Fatalf("%s: drawer is %q, want Alice (%q)", p.name, drawer, ids[a.tab])
		}
	}

	t.Run("drawer sees the word, guessers the hint", func(t *testing.T) {
		a := a.in(t)
		a.waitText("word", word, 5*time.Second)
		a.waitText("phase", "you are drawing", time.Second)
		for _, p := range []*page{b.in(t), c.in(t)} {
			p.waitTrue(`!document.getElementById("hint").hidden`, 5*time.Second)
			if got := strings.Count(p.text("hint"), "_"); got != len(word) {
				t.Errorf("%s: hint %q has %d blanks, want %d", p.name, p.text("hint"), got, len(word))
			}
			var hidden bool
			p.eval(`document.getElementById("word").hidden`, &hidden)
			var body string
			p.eval("document.documentElement.outerHTML + JSON.stringify(window.canvasrelay.game)", &body)
			if !hidden || strings.Contains(strings.ToLower(body), word) {
				t.Errorf("%s: a guesser's page shows or holds the word (word hidden %v)", p.name, hidden)
			}
			p.waitText("phase", "Alice is drawing", time.Second)
			if cd := p.text("countdown"); !strings.HasPrefix(cd, "0:5") && !strings.HasPrefix(cd, "1:00") {
				t.Errorf("%s: countdown %q, want about a minute left", p.name, cd)
			}
		}
		var locked, noTools bool
		c.in(t).eval(`document.getElementById("stage").classList.contains("locked")`, &locked)
		c.in(t).eval(`document.getElementById("tools").hidden`, &noTools)
		if !locked || !noTools {
			t.Errorf("C: a guesser's board: locked %v, tools hidden %v; want both", locked, noTools)
		}
	})

	t.Run("the drawer's stroke reaches both guessers", func(t *testing.T) {
		a := a.in(t)
		setColor(a, "#e61414")
		a.strokeMouse(0.1, 0.3, 0.5, 0.3)
		for _, p := range []*page{b.in(t), c.in(t)} {
			p.waitTrue(colorCount("destination", red, 0.08, 0.25, 0.52, 0.35)+" > 300", 10*time.Second)
		}
	})

	t.Run("the drawer draws by keyboard alone", func(t *testing.T) {
		a := a.in(t)
		setColor(a, "#1414e6")
		// The keyboard brush starts at the centre: Space puts it down, the
		// arrows move it 80 px right and 32 px down, Space lifts it.
		keys := " " + strings.Repeat(kb.ArrowRight, 10) + strings.Repeat(kb.ArrowDown, 4) + " "
		a.do(chromedp.Focus(chromedp.ID("source")), chromedp.SendKeys(chromedp.ID("source"), keys))
		for _, p := range []*page{b.in(t), c.in(t)} {
			p.waitTrue(colorCount("destination", [3]int{20, 20, 230}, 0.49, 0.49, 0.57, 0.56)+" > 100", 10*time.Second)
		}
		// The turn's first snapshot was whole; this small stroke went as a
		// patch, and the guessers applied it.
		a.waitTrue("window.canvasrelay.patchesSent >= 1", 5*time.Second)
		for _, p := range []*page{b.in(t), c.in(t)} {
			p.waitTrue("window.canvasrelay.patchesReceived >= 1", 5*time.Second)
		}
	})

	t.Run("a guess typed on the phone updates every scoreboard", func(t *testing.T) {
		c := c.in(t)
		c.do(chromedp.Focus(chromedp.ID("guess")), chromedp.SendKeys(chromedp.ID("guess"), "GIRAFFE"+kb.Enter))
		for _, p := range []*page{a.in(t), b.in(t), c} {
			guesser := fmt.Sprintf(`Number(document.querySelector('#scores li[data-client=%q] .pts').textContent)`, ids[c.tab])
			drawer := fmt.Sprintf(`Number(document.querySelector('#scores li[data-client=%q] .pts').textContent)`, ids[a.tab])
			p.waitTrue(guesser+" >= 50 && "+drawer+" === 25", 5*time.Second)
			p.waitText("chatLog", "guessed", time.Second)
		}
		c.waitText("phase", "you guessed it", time.Second)
		var overflow bool
		c.eval("document.documentElement.scrollWidth > window.innerWidth + 1", &overflow)
		if overflow {
			t.Error("phone: page is wider than the screen (horizontal scroll)")
		}
		a.in(t).screenshot(shots, "game-A-drawer.png")
		b.in(t).screenshot(shots, "game-B-guesser.png")
		c.screenshot(shots, "game-C-phone-guessed.png")
	})

	t.Run("the countdown runs", func(t *testing.T) {
		b := b.in(t)
		b.waitTrue(`/^0:5[0-8]$/.test(document.getElementById("countdown").textContent)`, 5*time.Second)
	})

	t.Run("the starter stops the game", func(t *testing.T) {
		b := b.in(t)
		var stopHidden bool
		a.in(t).eval(`document.getElementById("stop").hidden`, &stopHidden)
		if !stopHidden {
			t.Error("A: the stop button shows, but only the starter may stop")
		}
		b.do(chromedp.Click(chromedp.ID("stop")))
		for _, p := range []*page{a.in(t), b, c.in(t)} {
			p.waitTrue("window.canvasrelay.game.overs === 1 && !window.canvasrelay.game.running", 5*time.Second)
			p.waitText("chatLog", `The word was "giraffe"`, time.Second)
			p.waitText("chatLog", "Game over: Carol", time.Second)
			p.waitText("phase", "Press Enter to start a new game", time.Second)
		}
		b.screenshot(shots, "game-B-over.png")
	})

	for _, p := range pages {
		p.in(t).checkConsole()
	}
}
