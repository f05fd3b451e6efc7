package client

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "ws://h:1/ws/room", want: "ws://h:1/ws/room"},
		{in: "wss://h/ws/room", want: "wss://h/ws/room"},
		{in: "http://h:8080/r/room", want: "ws://h:8080/ws/room"},
		{in: "https://h/r/a.b_c-D9", want: "wss://h/ws/a.b_c-D9"},
		{in: "HTTP://h/ws/room/", want: "ws://h/ws/room"},
		{in: "https://h/canvas/r/room#top", want: "wss://h/canvas/ws/room"},
		{in: "http://h/r/room?token=abc", want: "ws://h/ws/room?token=abc"},
		{in: "ftp://h/r/room", bad: true},
		{in: "h:8080/r/room", bad: true},
		{in: "http:///r/room", bad: true},
		{in: "http://h/room", bad: true},
		{in: "http://h/x/room", bad: true},
		{in: "http://h/r/", bad: true},
		{in: "http://h/r/bad%20room", bad: true},
		{in: "http://h/r/" + strings.Repeat("a", 65), bad: true},
		{in: "http://u:p@h/r/room", bad: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			u, err := NormalizeURL(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrBadURL) {
					t.Fatalf("got %v, %v; want ErrBadURL", u, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %s", err, tt.want)
			}
			if got := u.String(); got != tt.want {
				t.Fatalf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestValidRoom(t *testing.T) {
	long := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // 64
	for name, want := range map[string]bool{"a": true, long: true, long + "a": false, "": false, "a/b": false, "é": false, "a b": false} {
		if got := ValidRoom(name); got != want {
			t.Errorf("ValidRoom(%q): got %v, want %v", name, got, want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: 2 * time.Second}
	for attempt := 0; attempt < 40; attempt++ {
		d := b.min << min(attempt, 20)
		if d > b.max {
			d = b.max
		}
		lo := b.delay(attempt, func() float64 { return 0 })
		hi := b.delay(attempt, func() float64 { return 0.999999 })
		if lo != d/2 {
			t.Errorf("attempt %d: lowest got %v, want %v", attempt, lo, d/2)
		}
		if hi > d || hi < lo {
			t.Errorf("attempt %d: highest got %v, want in [%v, %v]", attempt, hi, lo, d)
		}
		if r := b.delay(attempt, nil); r < d/2 || r > d {
			t.Errorf("attempt %d: random got %v, want in [%v, %v]", attempt, r, d/2, d)
		}
	}
}

func TestQueueDropsOldest(t *testing.T) {
	t.Run("count", func(t *testing.T) {
		q := newQueue[int](3, 1<<20)
		dropped := 0
		for i := 1; i <= 5; i++ {
			dropped += q.push(i, 1)
		}
		if dropped != 2 || q.droppedCount() != 2 {
			t.Fatalf("got %d dropped (counter %d), want 2", dropped, q.droppedCount())
		}
		for want := 3; want <= 5; want++ {
			if got, ok := q.pop(); !ok || got != want {
				t.Fatalf("got %d %v, want %d", got, ok, want)
			}
		}
		if _, ok := q.pop(); ok {
			t.Fatal("queue not empty")
		}
	})
	t.Run("bytes", func(t *testing.T) {
		q := newQueue[int](100, 10)
		q.push(1, 4)
		q.push(2, 4)
		if n := q.push(3, 4); n != 1 {
			t.Fatalf("got %d dropped, want 1", n)
		}
		if n := q.push(4, 50); n != 2 {
			t.Fatalf("oversized entry: got %d dropped, want 2", n)
		}
		if got, _ := q.pop(); got != 4 {
			t.Fatalf("got %d, want the oversized entry 4 kept alone", got)
		}
	})
	t.Run("run drains on finish", func(t *testing.T) {
		q := newQueue[int](10, 100)
		finish, stop := make(chan struct{}), make(chan struct{})
		q.push(1, 1)
		q.push(2, 1)
		close(finish)
		go q.run(finish, stop)
		var got []int
		for v := range q.out {
			got = append(got, v)
		}
		if len(got) != 2 || got[0] != 1 || got[1] != 2 {
			t.Fatalf("got %v, want [1 2]", got)
		}
	})
	t.Run("run stops", func(t *testing.T) {
		q := newQueue[int](10, 100)
		finish, stop := make(chan struct{}), make(chan struct{})
		q.push(1, 1)
		done := make(chan struct{})
		go func() { q.run(finish, stop); close(done) }()
		close(stop)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("run did not stop")
		}
	})
}

func TestParseEvent(t *testing.T) {
	tests := []struct {
		in    string
		check func(t *testing.T, ev Event)
	}{
		{`{"type":"hello","id":"7","client":"c","room":"r","count":2,"max_bytes":10,"max_pixels":20,"formats":["png","webp"]}`, func(t *testing.T, ev Event) {
			h := ev.(*Hello)
			if h.ID != "7" || h.Client != "c" || h.Count != 2 || h.MaxBytes != 10 || h.MaxPixels != 20 || len(h.Formats) != 2 {
				t.Errorf("got %+v", h)
			}
		}},
		{`{"type":"presence","count":3,"event":"join","client":"c","name":"n"}`, func(t *testing.T, ev Event) {
			if p := ev.(*Presence); p.Count != 3 || p.Event != "join" || p.Name != "n" {
				t.Errorf("got %+v", p)
			}
		}},
		{`{"type":"chat","client":"c","name":"n","text":"hi","ts":1700000000000}`, func(t *testing.T, ev Event) {
			if c := ev.(*Chat); c.Text != "hi" || c.TS != 1700000000000 {
				t.Errorf("got %+v", c)
			}
		}},
		{`{"type":"frame","client":"c","name":"n","seq":4,"format":"png","width":3,"height":2,"bytes":99,"ts":5}`, func(t *testing.T, ev Event) {
			if f := ev.(*FrameInfo); f.Seq != 4 || f.Width != 3 || f.Height != 2 || f.Bytes != 99 {
				t.Errorf("got %+v", f)
			}
		}},
		{`{"type":"ack","seq":9,"format":"jpeg","width":1,"height":1,"bytes":3}`, func(t *testing.T, ev Event) {
			if a := ev.(*Ack); a.Seq != 9 || a.Format != "jpeg" {
				t.Errorf("got %+v", a)
			}
		}},
		{`{"type":"error","code":"too_large","message":"m","seq":2}`, func(t *testing.T, ev Event) {
			if e := ev.(*ErrorEvent); e.Code != "too_large" || e.Seq != 2 {
				t.Errorf("got %+v", e)
			}
		}},
		{`{"type":"game","event":"turn","turn":1,"turns":4,"drawer":"d","hint":"__ __","length":4,"ends_at":9}`, func(t *testing.T, ev Event) {
			if g := ev.(*Game); g.Event != "turn" || g.Turns != 4 || g.Hint != "__ __" || g.Word != "" {
				t.Errorf("got %+v", g)
			}
		}},
		{`{"type":"future","x":[1,2]}`, func(t *testing.T, ev Event) {
			u := ev.(*Unknown)
			if u.EventType() != "future" || string(u.RawJSON()) != `{"type":"future","x":[1,2]}` {
				t.Errorf("got %q %s", u.EventType(), u.RawJSON())
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.in[:20], func(t *testing.T) {
			ev, err := ParseEvent([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(ev.RawJSON()) != tt.in {
				t.Errorf("raw: got %s, want %s", ev.RawJSON(), tt.in)
			}
			tt.check(t, ev)
		})
	}
	for _, bad := range []string{`not json`, `{"x":1}`, `{"type":"ack","seq":"x"}`} {
		if _, err := ParseEvent([]byte(bad)); err == nil {
			t.Errorf("ParseEvent(%s): got nil error, want one", bad)
		}
	}
}
