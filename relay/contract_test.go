package relay

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/lxzan/gws"
)

func TestHelloThenPresence(t *testing.T) {
	_, url := startServer(t, Config{})
	a := dial(t, url, "room1", dialOpt{query: "name=Ann&client=ann"})
	h := a.expect(TypeHello)
	if got := num(h.ev, "count"); got != 1 {
		t.Fatalf("hello count: got %d, want 1", got)
	}
	if str(h.ev, "client") != "ann" || str(h.ev, "room") != "room1" || str(h.ev, "id") == "" {
		t.Fatalf("hello: got %s", h.data)
	}
	if num(h.ev, "max_bytes") != 8<<20 || num(h.ev, "max_pixels") != 4096*4096 {
		t.Fatalf("hello limits: got %s", h.data)
	}
	if f, _ := h.ev["formats"].([]any); len(f) != 4 {
		t.Fatalf("hello formats: got %v, want 4 formats", h.ev["formats"])
	}

	b := dial(t, url, "room1", dialOpt{query: "name=Bob&client=bob"})
	hb := b.expect(TypeHello)
	if got := num(hb.ev, "count"); got != 2 {
		t.Fatalf("second hello count: got %d, want 2", got)
	}
	if str(hb.ev, "id") == str(h.ev, "id") {
		t.Fatalf("two connections share id %q", str(h.ev, "id"))
	}
	p := a.expect(TypePresence)
	if num(p.ev, "count") != 2 || str(p.ev, "event") != "join" || str(p.ev, "client") != "bob" || str(p.ev, "name") != "Bob" {
		t.Fatalf("join presence: got %s", p.data)
	}
	b.expectNothing(100 * time.Millisecond) // no presence about itself

	b.close()
	p = a.expect(TypePresence)
	if num(p.ev, "count") != 1 || str(p.ev, "event") != "leave" || str(p.ev, "client") != "bob" {
		t.Fatalf("leave presence: got %s", p.data)
	}

	// Another room is another world.
	c := dial(t, url, "room2", dialOpt{})
	if got := num(c.expect(TypeHello).ev, "count"); got != 1 {
		t.Fatalf("room2 hello count: got %d, want 1", got)
	}
	a.expectNothing(100 * time.Millisecond)
}

func TestRelayEachFormatByteExact(t *testing.T) {
	_, url := startServer(t, Config{})
	a := dial(t, url, "fmt", dialOpt{query: "name=Ann&client=ann"})
	a.expect(TypeHello)
	b := dial(t, url, "fmt", dialOpt{query: "name=Bob&client=bob"})
	b.expect(TypeHello)
	a.expect(TypePresence)

	cases := []struct {
		file, format string
		w, h         int
	}{
		{"canvas-transparent-64x48.png", "png", 64, 48},
		{"photo-64x48.jpg", "jpeg", 64, 48},
		{"anim-2frames-64x48.gif", "gif", 64, 48},
		{"canvas-transparent-64x48.webp", "webp", 64, 48},
		{"canvas-opaque-64x48.webp", "webp", 64, 48},
	}
	for i, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			img := readTestdata(t, tc.file)
			seq := i + 1
			before := time.Now().UnixMilli()
			a.sendBinary(img)
			ack := a.expect(TypeAck)
			if num(ack.ev, "seq") != seq || str(ack.ev, "format") != tc.format || num(ack.ev, "width") != tc.w || num(ack.ev, "height") != tc.h || num(ack.ev, "bytes") != len(img) {
				t.Fatalf("ack: got %s, want seq %d %s %dx%d %d bytes", ack.data, seq, tc.format, tc.w, tc.h, len(img))
			}
			fr := b.expect(TypeFrame)
			ev := fr.ev
			if str(ev, "client") != "ann" || str(ev, "name") != "Ann" || num(ev, "seq") != seq || str(ev, "format") != tc.format ||
				num(ev, "width") != tc.w || num(ev, "height") != tc.h || num(ev, "bytes") != len(img) {
				t.Fatalf("frame event: got %s", fr.data)
			}
			if ts := int64(num(ev, "ts")); ts < before-1000 || ts > time.Now().UnixMilli()+1000 {
				t.Fatalf("frame ts: got %d, want about %d", ts, before)
			}
			bin := b.next(5 * time.Second)
			if bin.op != gws.OpcodeBinary || !bytes.Equal(bin.data, img) {
				t.Fatalf("got %s, want the %d image bytes", describe(bin), len(img))
			}
		})
	}
	a.expectNothing(200 * time.Millisecond) // no echo
}

func TestChatJSONAndPlain(t *testing.T) {
	_, url := startServer(t, Config{})
	a := dial(t, url, "chat", dialOpt{query: "name=Ann&client=ann"})
	a.expect(TypeHello)
	b := dial(t, url, "chat", dialOpt{query: "name=Bob&client=bob"})
	b.expect(TypeHello)
	a.expect(TypePresence)

	a.sendText(`{"type":"chat","text":"hello \"json\""}`)
	c := b.expect(TypeChat)
	if str(c.ev, "text") != `hello "json"` || str(c.ev, "client") != "ann" || str(c.ev, "name") != "Ann" || num(c.ev, "ts") == 0 {
		t.Fatalf("json chat: got %s", c.data)
	}
	a.sendText("just typing, not json")
	c = b.expect(TypeChat)
	if str(c.ev, "text") != "just typing, not json" {
		t.Fatalf("plain chat: got %s", c.data)
	}
	a.expectNothing(100 * time.Millisecond) // no echo

	for _, bad := range []string{`{"type":"dance"}`, `{"text":"no type"}`, `[1,2]`, `{"type":"chat","text":""}`} {
		a.sendText(bad)
		e := a.expect(TypeError)
		if str(e.ev, "code") != CodeBadRequest || str(e.ev, "message") == "" {
			t.Fatalf("%s: got %s, want bad_request", bad, e.data)
		}
		if _, has := e.ev["seq"]; has {
			t.Fatalf("%s: error has a seq: %s", bad, e.data)
		}
	}
	b.expectNothing(100 * time.Millisecond)
}

func TestLateJoinerGetsLayers(t *testing.T) {
	_, url := startServer(t, Config{})
	png1 := readTestdata(t, "canvas-transparent-64x48.png")
	png2 := readTestdata(t, "canvas-opaque-64x48.png")
	jpg := readTestdata(t, "photo-64x48.jpg")

	a := dial(t, url, "late", dialOpt{query: "client=ann"})
	resume := str(a.expect(TypeHello).ev, "resume")
	c := dial(t, url, "late", dialOpt{query: "client=cat"})
	c.expect(TypeHello)
	a.expect(TypePresence)
	a.sendBinary(png1)
	a.expect(TypeAck)
	c.sendBinary(jpg)
	c.expectSkippingFrames(TypeAck)
	a.sendBinary(png2) // replaces ann's layer
	a.expectSkippingFrames(TypeAck)

	d := dial(t, url, "late", dialOpt{query: "client=dan"})
	if got := num(d.expect(TypeHello).ev, "count"); got != 3 {
		t.Fatalf("hello count: got %d, want 3", got)
	}
	got := map[string][]byte{}
	for i := 0; i < 2; i++ {
		fr := d.expect(TypeFrame)
		bin := d.next(5 * time.Second)
		got[str(fr.ev, "client")] = bin.data
	}
	if !bytes.Equal(got["ann"], png2) || !bytes.Equal(got["cat"], jpg) {
		t.Fatalf("layers: got ann %d bytes, cat %d bytes; want %d and %d", len(got["ann"]), len(got["cat"]), len(png2), len(jpg))
	}
	d.expectNothing(100 * time.Millisecond)

	// The drawing outlives its author, and a reload gets its own layer back.
	a.close()
	c.close()
	a2 := dial(t, url, "late", dialOpt{query: "client=ann&resume=" + resume})
	if got := str(a2.expect(TypeHello).ev, "client"); got != "ann" {
		t.Fatalf("reload with resume: hello.client %q, want ann", got)
	}
	own := map[string]bool{}
	for i := 0; i < 2; i++ {
		own[str(a2.expect(TypeFrame).ev, "client")] = true
		a2.next(5 * time.Second)
	}
	if !own["ann"] || !own["cat"] {
		t.Fatalf("rejoin layers: got %v, want ann and cat", own)
	}
}

func TestUpgradeChecks(t *testing.T) {
	_, url := startServer(t, Config{})
	httpURL := "http" + strings.TrimPrefix(url, "ws")
	for _, room := range []string{"a%20b", strings.Repeat("x", 65), "a/b", "caf%C3%A9", ""} {
		resp, err := http.Get(httpURL + "/ws/" + room)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("room %q: got HTTP %d, want 400", room, resp.StatusCode)
		}
	}
	// A bad name is refused before any upgrade, for a real WebSocket client too.
	if _, resp, err := tryDial(t, url, "bad%20room", dialOpt{}); err == nil || resp == nil || resp.StatusCode != 400 {
		t.Errorf("websocket dial of a bad room: got err %v, want HTTP 400", err)
	}

	// canvasrelay.v1 is echoed, and no subprotocol is fine.
	for _, tc := range []struct{ offer, want string }{{"canvasrelay.v1", "canvasrelay.v1"}, {"", ""}, {"other, canvasrelay.v1", "canvasrelay.v1"}} {
		h := http.Header{}
		if tc.offer != "" {
			h.Set("Sec-WebSocket-Protocol", tc.offer)
		}
		c := dial(t, url, "proto", dialOpt{header: h})
		if got := c.ws.SubProtocol(); got != tc.want {
			t.Errorf("offer %q: got subprotocol %q, want %q", tc.offer, got, tc.want)
		}
		c.expect(TypeHello)
		c.close()
	}

	// Origin: same host passes, others get 403 before the upgrade.
	h := http.Header{}
	h.Set("Origin", "https://evil.example")
	if _, resp, err := tryDial(t, url, "o", dialOpt{header: h}); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("foreign origin: got err %v, want HTTP 403", err)
	}
	h.Set("Origin", httpURL)
	dial(t, url, "o", dialOpt{header: h}).expect(TypeHello)
}

func TestFrameTooBigCloses1009(t *testing.T) {
	_, url := startServer(t, Config{MaxBytes: 1 << 10})
	a := dial(t, url, "big", dialOpt{})
	a.expect(TypeHello)
	b := dial(t, url, "big", dialOpt{})
	b.expect(TypeHello)
	a.expect(TypePresence)
	a.sendBinary(bytes.Repeat([]byte{0x89}, 2<<10))
	if code := a.closeCode(5 * time.Second); code != CloseTooBig {
		t.Fatalf("close code: got %d, want 1009", code)
	}
	p := b.expect(TypePresence)
	if str(p.ev, "event") != "leave" {
		t.Fatalf("got %s, want a leave", p.data)
	}
}

func TestBadImagesGetErrorsAndAreNotFannedOut(t *testing.T) {
	_, url := startServer(t, Config{Formats: nil})
	a := dial(t, url, "bad", dialOpt{})
	a.expect(TypeHello)
	b := dial(t, url, "bad", dialOpt{})
	b.expect(TypeHello)
	a.expect(TypePresence)

	cases := []struct{ file, code string }{
		{"bomb-100000x100000.png", CodeTooManyPixels},
		{"bomb-65535x65535.jpg", CodeTooManyPixels},
		{"bomb-65535x65535.gif", CodeTooManyPixels},
		{"bomb-vp8x-40000x40000.webp", CodeTooManyPixels},
		{"bomb-vp8l-16384x16384.webp", CodeTooManyPixels},
		{"truncated-header.png", CodeInvalidImage},
		{"truncated-header.jpg", CodeInvalidImage},
		{"truncated-header.gif", CodeInvalidImage},
		{"truncated-header.webp", CodeInvalidImage},
		{"badcrc.png", CodeInvalidImage},
		{"zero-size.gif", CodeInvalidImage},
		{"badmagic.png", CodeUnsupportedFormat},
		{"empty.bin", CodeInvalidImage},
		{"random-1k.bin", CodeUnsupportedFormat},
		{"sample.bmp", CodeUnsupportedFormat},
		{"sample.tiff", CodeUnsupportedFormat},
	}
	for i, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			a.sendBinary(readTestdata(t, tc.file))
			e := a.expect(TypeError)
			if str(e.ev, "code") != tc.code || num(e.ev, "seq") != i+1 || str(e.ev, "message") == "" {
				t.Fatalf("got %s, want code %s with seq %d", e.data, tc.code, i+1)
			}
		})
	}
	// Nothing reached b; the next good frame does, and the connection lives.
	good := readTestdata(t, "canvas-opaque-64x48.png")
	a.sendBinary(good)
	if ack := a.expect(TypeAck); num(ack.ev, "seq") != len(cases)+1 {
		t.Fatalf("ack after errors: got %s, want seq %d", ack.data, len(cases)+1)
	}
	fr := b.expect(TypeFrame)
	if num(fr.ev, "seq") != len(cases)+1 {
		t.Fatalf("got frame %s, want only the good one", fr.data)
	}
	if bin := b.next(5 * time.Second); !bytes.Equal(bin.data, good) {
		t.Fatalf("got %s, want the good image", describe(bin))
	}
}

func TestFormatAllowList(t *testing.T) {
	srv, url := startServer(t, Config{Formats: []imageproc.Format{imageproc.PNG}})
	_ = srv
	a := dial(t, url, "allow", dialOpt{})
	h := a.expect(TypeHello)
	if f := fmt.Sprint(h.ev["formats"]); f != "[png]" {
		t.Fatalf("hello formats: got %s, want [png]", f)
	}
	a.sendBinary(readTestdata(t, "photo-64x48.jpg"))
	if e := a.expect(TypeError); str(e.ev, "code") != CodeUnsupportedFormat {
		t.Fatalf("got %s, want unsupported_format", e.data)
	}
}

func TestInvalidUTF8Closes1007(t *testing.T) {
	_, url := startServer(t, Config{})
	a := dial(t, url, "utf", dialOpt{})
	a.expect(TypeHello)
	if err := a.ws.WriteMessage(gws.OpcodeText, []byte{'h', 0xff, 0xfe}); err != nil {
		t.Fatal(err)
	}
	if code := a.closeCode(5 * time.Second); code != CloseInvalidData {
		t.Fatalf("close code: got %d, want 1007", code)
	}
}
