package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// IdleResult is what one idle run measured.
type IdleResult struct {
	Conns          int     `json:"conns"`
	Rooms          int     `json:"rooms"`
	ConnectSeconds float64 `json:"connect_seconds"`
	ConnectRate    float64 `json:"connects_per_s"`
	RSSBefore      int64   `json:"rss_before_bytes,omitempty"`
	RSSAfter       int64   `json:"rss_after_bytes,omitempty"`
	RSSPerConn     float64 `json:"rss_per_conn_bytes,omitempty"`
	// GoPerConn is the Go heap and stacks in use per connection, after GC:
	// in-process runs only (it then counts the bench's socket ends too, a
	// few hundred bytes each).
	GoPerConn float64 `json:"go_per_conn_bytes,omitempty"`
	// ServerConns is how many connections the server reported open.
	ServerConns int `json:"server_conns"`
}

// idleSettle is how long the server gets to finish writing hello and
// presence before memory is read.
const idleSettle = 500 * time.Millisecond

// fdMargin is what the process needs beyond the sockets of a run.
const fdMargin = 64

// checkFDs fails early when n sockets (twice that for an in-process server,
// which holds both ends) do not fit the open file limit.
func checkFDs(n int, inProcess bool, what string) error {
	need := n + fdMargin
	if inProcess {
		need += n
	}
	lim, err := openFileLimit()
	if err != nil || uint64(need) <= lim {
		return nil
	}
	hint := "lower --conns"
	if inProcess {
		hint = "run the " + what + " as its own process (canvasrelay serve, or canvasrelay bench floor-server) and pass --url/--floor-url with --pid/--floor-pid, or lower --conns"
	}
	return fmt.Errorf("%w: %d connections need about %d file descriptors in this process (both ends when the %s is in-process), the limit (ulimit -n) is %d: %s",
		ErrFDLimit, n, need, what, lim, hint)
}

// runIdle opens o.Conns connections that never send or read, o.PerRoom to
// a room, and measures the server's memory.
func runIdle(ctx context.Context, t *target, o *Options, room string) (*IdleResult, error) {
	if err := checkFDs(o.Conns, t.inProcess, t.impl); err != nil {
		return nil, err
	}
	res := &IdleResult{Conns: o.Conns, Rooms: (o.Conns + o.PerRoom - 1) / o.PerRoom}
	baseConns := serverConns(ctx, t)
	settleMemory()
	var before ProcSample
	var err error
	if t.pid > 0 {
		if before, err = ReadProc(t.pid); err != nil {
			return nil, err
		}
	}
	var goBefore int64
	if t.inProcess {
		goBefore = goInUse()
	}

	conns := make([]net.Conn, o.Conns)
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close()
			}
		}
	}()
	var opened atomic.Int64
	start := time.Now()
	err = forEach(o.Conns, o.Concurrency, func(i int) error {
		path := fmt.Sprintf("/ws/%s-%d?%s=%s", room, i/o.PerRoom, wire.QueryClient, url.QueryEscape(fmt.Sprintf("idle-%d", i)))
		nc, _, err := dialRaw(ctx, t.host, path, 0)
		if err != nil {
			return fmt.Errorf("%w: connection %d: %w", ErrScenarioFailed, i, err)
		}
		conns[i] = nc
		opened.Add(1)
		return nil
	})
	res.ConnectSeconds = time.Since(start).Seconds()
	res.ConnectRate = ratio(float64(opened.Load()), res.ConnectSeconds)
	if err != nil {
		return res, err
	}

	// Wait (bounded) until the server holds them all, then let it settle.
	deadline := time.Now().Add(30 * time.Second)
	for {
		res.ServerConns = serverConns(ctx, t) - baseConns
		if res.ServerConns >= o.Conns || time.Now().After(deadline) || ctx.Err() != nil || res.ServerConns < 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sleepUntil(ctx, time.Now().Add(idleSettle)) {
		return res, ctx.Err()
	}
	if t.inProcess {
		res.GoPerConn = float64(goInUse()-goBefore) / float64(o.Conns)
		settleMemory()
	}
	if t.pid > 0 {
		after, err := ReadProc(t.pid)
		if err != nil {
			return res, err
		}
		res.RSSBefore, res.RSSAfter = before.RSS, after.RSS
		res.RSSPerConn = float64(after.RSS-before.RSS) / float64(o.Conns)
	}
	if t.metrics || t.floor != nil {
		if res.ServerConns != o.Conns {
			return res, fmt.Errorf("%w: %s holds %d connections, want %d", ErrScenarioFailed, t.impl, res.ServerConns, o.Conns)
		}
	} else {
		res.ServerConns = -1 // not known
	}
	return res, nil
}

// serverConns is the number of open connections the server reports, or -1.
func serverConns(ctx context.Context, t *target) int {
	switch {
	case t.floor != nil:
		return t.floor.Conns()
	case t.metrics:
		m, err := scrape(ctx, t.host)
		if err != nil {
			return -1
		}
		return int(sumMetric(m, metricConns))
	}
	return -1
}

func runIdleScenario(ctx context.Context, o *Options, rep *Report) error {
	rep.Params.Conns = o.Conns
	rep.Params.PerRoom = o.PerRoom
	rep.rows = idleRows
	var errs []error
	for _, impl := range inOrder(o, []string{implRelay, implFloor}) {
		o.Logger.Info("run", "name", impl)
		where, err := withTarget(o, impl, func(t *target) error {
			res, err := runIdle(ctx, t, o, o.roomName("idle"))
			r := RunResult{Name: impl, Impl: impl, Idle: res}
			if err != nil {
				r.Error = err.Error()
			}
			rep.Runs = append(rep.Runs, r)
			return err
		})
		if impl == implRelay {
			rep.Relay = where
		} else {
			rep.Floor = where
		}
		if err != nil {
			errs = append(errs, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	rel, flo := rep.run(implRelay), rep.run(implFloor)
	if rel != nil && rel.Idle != nil {
		a := rel.Idle
		if flo != nil && flo.Idle != nil {
			b := flo.Idle
			if a.RSSPerConn > 0 && b.RSSPerConn > 0 {
				rep.Ratios = append(rep.Ratios, Ratio{Name: "RSS per connection, relay/floor", Value: ratio(a.RSSPerConn, b.RSSPerConn), Note: "lower is better"})
			}
			if a.GoPerConn > 0 && b.GoPerConn > 0 {
				rep.Ratios = append(rep.Ratios, Ratio{Name: "Go heap+stacks per connection, relay/floor", Value: ratio(a.GoPerConn, b.GoPerConn), Note: "lower is better"})
			}
			rep.Ratios = append(rep.Ratios, Ratio{Name: "connect rate, relay/floor", Value: ratio(a.ConnectRate, b.ConnectRate)})
		}
		if a.RSSPerConn != 0 {
			rep.addTarget(Target{
				Name:  "idle: server RSS per connection at 10,000 connections",
				Want:  "<= 16 KiB",
				Got:   iec(a.RSSPerConn),
				Value: a.RSSPerConn, Cmp: "<=", Limit: 16 << 10, Unit: "bytes",
				Applies: o.Conns >= 10000,
			})
		}
	}
	rep.note("idle clients are bare sockets: a hand-made WebSocket handshake, then nothing (no reads, no pongs); %d to a room, so every join also sends presence to the room", o.PerRoom)
	rep.note("in-process runs read RSS after a GC that returns freed memory to the OS (before and after connecting), so RSS per connection is live memory; an external server's RSS is read as it is")
	addCommonNotes(rep)
	return errors.Join(errs...)
}

// idleRows is the human table of idle runs.
func idleRows(rep *Report) []row {
	var rows []row
	add := func(label string, f func(*IdleResult) string) {
		rw := row{label: label}
		for _, r := range rep.Runs {
			v := "-"
			if r.Idle != nil {
				v = f(r.Idle)
			}
			rw.vals = append(rw.vals, v)
		}
		rows = append(rows, rw)
	}
	add("connections", func(r *IdleResult) string { return fmt.Sprint(r.Conns) })
	add("rooms", func(r *IdleResult) string { return fmt.Sprint(r.Rooms) })
	add("held by the server", func(r *IdleResult) string {
		if r.ServerConns < 0 {
			return "?"
		}
		return fmt.Sprint(r.ServerConns)
	})
	add("connect rate /s", func(r *IdleResult) string { return fmt.Sprintf("%.0f", r.ConnectRate) })
	add("RSS before", func(r *IdleResult) string { return iecOrDash(r.RSSBefore) })
	add("RSS after", func(r *IdleResult) string { return iecOrDash(r.RSSAfter) })
	add("RSS per connection", func(r *IdleResult) string {
		if r.RSSAfter == 0 {
			return "-"
		}
		return iec(r.RSSPerConn)
	})
	add("Go heap+stacks per conn", func(r *IdleResult) string {
		if r.GoPerConn == 0 {
			return "-"
		}
		return iec(r.GoPerConn)
	})
	return rows
}

func iecOrDash(b int64) string {
	if b == 0 {
		return "-"
	}
	return iec(float64(b))
}
