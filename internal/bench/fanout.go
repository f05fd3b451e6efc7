package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/canvasrelay/canvasrelay/relay/client"
)

// load is the shape of one fan-out run.
type load struct {
	subs       int           // fast subscribers (they read everything)
	stalled    int           // subscribers that never read
	img        []byte        // the frame every publish sends
	rate       float64       // frames/s; 0: as fast as the window allows
	window     int           // frames in flight (sent, not yet acked)
	byDelivery bool          // window counts frames not yet at every fast subscriber, not acks
	frames     int           // at most this many publishes
	duration   time.Duration // and at most this long publishing
	drain      time.Duration // wait at most this long for acks and deliveries after publishing
	cutoffWait time.Duration // stalled: wait at most this long after publishing for the cut-offs
	room       string
	groups     []subGroup // if set, subscriber i is in groups[i%len(groups)]
}

// FanoutResult is what one fan-out run measured. Rates are per second of
// the run: from the first publish to the last delivery.
type FanoutResult struct {
	Subscribers     int     `json:"subscribers"`
	Stalled         int     `json:"stalled,omitempty"`
	FrameBytes      int     `json:"frame_bytes"`
	Published       int     `json:"published"` // frames acked by the server
	Rejected        int     `json:"rejected"`
	Lost            int     `json:"lost"` // frames without an answer
	PublishSeconds  float64 `json:"publish_seconds"`
	PublishedFPS    float64 `json:"published_fps"`
	Delivered       int     `json:"delivered"` // frames received, all fast subscribers together
	DeliveredBytes  int64   `json:"delivered_bytes"`
	DeliverySeconds float64 `json:"delivery_seconds"`
	DeliveredFPS    float64 `json:"delivered_fps"`
	DeliveredMBps   float64 `json:"delivered_mb_per_s"` // 10^6 bytes per second
	DeliveryRatio   float64 `json:"delivery_ratio"`     // Delivered / (Published × Subscribers)
	GotLast         int     `json:"got_last"`           // fast subscribers that received the last frame published
	// ReachedNobody counts acked frames that no fast subscriber received:
	// work the server took and threw away. Waste is ReachedNobody / Published.
	ReachedNobody int     `json:"reached_nobody"`
	Waste         float64 `json:"waste"`
	DrainTimedOut bool    `json:"drain_timed_out,omitempty"`
	ClientDropped uint64  `json:"client_dropped,omitempty"` // frames dropped inside the bench's own clients
	Latency       Latency `json:"latency"`
	CPUPerFrameMS float64 `json:"cpu_ms_per_frame,omitempty"` // server CPU per published frame
	// CPUPerGB is the server's CPU seconds per 10^9 bytes delivered: its
	// cost per byte of fan-out, whatever limited the rate.
	CPUPerGB float64 `json:"cpu_seconds_per_gb,omitempty"`
	// MBPerCPUSecond is its inverse: delivered MB (10^6 bytes) per second of
	// server CPU, the server's efficiency (higher is better).
	MBPerCPUSecond float64 `json:"mb_per_cpu_second,omitempty"`
	// QueuedPeak is the highest canvasrelay_queued_bytes seen (relay only,
	// sampled every 100 ms): what waits in all subscriber queues.
	QueuedPeak float64 `json:"queued_bytes_peak,omitempty"`
	CutOff     *CutOff `json:"cutoff,omitempty"`
	// Duplicates counts frames a subscriber received twice in a row (the
	// seq of the newest frame it had); OutOfOrder those with a lower seq
	// (late, or an older duplicate). Both should be 0.
	Duplicates int    `json:"duplicates"`
	OutOfOrder int    `json:"out_of_order"`
	FirstOdd   string `json:"first_odd,omitempty"` // the first such frame
	// Groups holds the figures of each share of the subscribers (per
	// rendition, per cluster node).
	Groups []GroupStat `json:"groups,omitempty"`
	// Reencodes, RenditionsComputed and RenditionsShared are the rise of the
	// relay's canvasrelay_reencodes_total{kind="rendition"},
	// canvasrelay_rendition_cache_misses_total and _hits_total during a
	// renditions run.
	Reencodes          float64 `json:"reencodes,omitempty"`
	RenditionsComputed float64 `json:"renditions_computed,omitempty"`
	RenditionsShared   float64 `json:"renditions_shared,omitempty"`
}

// CutOff reports what happened to the stalled subscribers.
type CutOff struct {
	Stalled     int `json:"stalled"`
	ServerCount int `json:"server_4001"` // rise of canvasrelay_disconnects_total{code="4001"} during the run
	// FirstSeconds and LastSeconds are when the server's count rose, from the
	// first publish (sampled every 100 ms). They include the time to fill the
	// socket buffers, the server's write timeout and its close grace.
	FirstSeconds float64     `json:"first_seconds,omitempty"`
	LastSeconds  float64     `json:"last_seconds,omitempty"`
	Closed       int         `json:"closed_by_server"` // stalled sockets the server had closed when read at the end
	CloseCodes   map[int]int `json:"close_codes,omitempty"`
	// QueuedBytesMax is the peak of canvasrelay_queued_bytes (all queues).
	QueuedBytesMax float64 `json:"queued_bytes_max,omitempty"`
	Metrics        bool    `json:"metrics"` // the server's /metrics was read
}

// runFanout runs one publisher, ld.subs fast subscribers and ld.stalled
// stalled ones against t.
func runFanout(ctx context.Context, t *target, ld load, o *Options) (*FanoutResult, *ProcResult, error) {
	settleMemory()
	res := &FanoutResult{Subscribers: ld.subs, Stalled: ld.stalled, FrameBytes: len(ld.img)}
	roomURL := t.base + "/ws/" + ld.room
	byOrder := t.impl == implFloor

	moved := make(chan struct{}, 1)
	proto := subscriber{byOrder: byOrder, limit: ld.frames, moved: moved}
	subs, err := dialSubscribers(ctx, t.base, "/ws/"+ld.room, ld.subs, ld.groups, &proto, o)
	defer closeClients(subs, o)
	if err != nil {
		return nil, nil, err
	}
	stalled, err := dialStalled(ctx, t.host, "/ws/"+ld.room, ld.stalled, o.Concurrency)
	defer func() {
		for _, r := range stalled {
			_ = r.nc.Close()
		}
	}()
	if err != nil {
		return nil, nil, err
	}
	pub, err := client.Dial(ctx, client.Config{
		URL: roomURL, ClientID: "bench-pub", Name: "bench publisher", Window: ld.window,
		Logger: o.Logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("%w: dial publisher: %w", ErrScenarioFailed, err)
	}
	defer pub.Close()

	smp, err := startSampler(t.pid, 100*time.Millisecond)
	if err != nil {
		return nil, nil, err
	}
	var watch *cutoffWatch
	if t.metrics {
		watch = startCutoffWatch(ctx, t.host)
	}
	var before map[string]float64
	if hasRends(ld.groups) && t.metrics {
		if before, err = scrape(ctx, t.host); err != nil {
			return nil, nil, err
		}
	}
	stopProfile := o.startProfile(t.impl)

	// Publish.
	sentAt := make([]time.Time, ld.frames+1)
	acks := newAckCollector(ld.frames)
	start := time.Now()
	// Canceled, not a deadline: a deadline on SendAsync's context would also
	// cut short a write in progress, and that ends the connection.
	pubCtx, cancelPub := context.WithCancel(ctx)
	stopTimer := time.AfterFunc(ld.duration, cancelPub)
	defer stopTimer.Stop()
	sent := 0
	var pubErr error
	for sent < ld.frames && pubCtx.Err() == nil {
		if ld.rate > 0 {
			due := start.Add(time.Duration(float64(sent) / ld.rate * float64(time.Second)))
			if !sleepUntil(pubCtx, due) {
				break
			}
		}
		if ld.byDelivery && !waitSlowest(pubCtx, subs, moved, int64(sent+1-ld.window)) {
			break
		}
		p, err := pub.SendAsync(pubCtx, ld.img)
		if err != nil {
			if pubCtx.Err() == nil {
				pubErr = fmt.Errorf("%w: publish frame %d: %w", ErrScenarioFailed, sent+1, err)
			}
			break
		}
		if p.Seq != int64(sent+1) {
			pubErr = fmt.Errorf("%w: publish frame %d got seq %d", ErrScenarioFailed, sent+1, p.Seq)
			break
		}
		sentAt[p.Seq] = p.Sent
		acks.ch <- p
		sent++
	}
	cancelPub()
	close(acks.ch)
	endPub := time.Now()

	// Drain: acks, then deliveries of the last frame, then cut-offs.
	drainCtx, cancelDrain := context.WithDeadline(ctx, endPub.Add(ld.drain))
	defer cancelDrain()
	acks.wait(drainCtx)
	last := acks.lastSeq // the newest frame the server took
	res.DrainTimedOut = !waitDelivered(drainCtx, subs, last)
	if watch != nil && ld.stalled > 0 {
		waitCtx, cancel := context.WithDeadline(ctx, endPub.Add(max(ld.cutoffWait, ld.drain)))
		watch.waitFor(waitCtx, ld.stalled)
		cancel()
	}
	stopProfile()
	proc, perr := smp.stop()
	if watch != nil {
		co := watch.stop(start)
		res.QueuedPeak = co.QueuedBytesMax
		if ld.stalled > 0 {
			res.CutOff = co
		}
	}
	res.CutOff = drainStalled(stalled, t.impl == implRelay, res.CutOff, ld.stalled)
	if before != nil {
		after, err := scrape(ctx, t.host)
		if err != nil {
			return nil, nil, err
		}
		rise := func(name string, labels ...string) float64 {
			return sumMetric(after, name, labels...) - sumMetric(before, name, labels...)
		}
		res.Reencodes = rise(metricReencodes, `kind="rendition"`)
		res.RenditionsComputed = rise(metricRendMisses)
		res.RenditionsShared = rise(metricRendHits)
	}

	// Close the clients, so that their readers finish, before reading them.
	_ = pub.Close()
	closeClients(subs, o)

	res.Published, res.Rejected, res.Lost = acks.acked, acks.rejected, acks.lost
	res.PublishSeconds = acks.last.Sub(start).Seconds()
	res.PublishedFPS = ratio(float64(res.Published), res.PublishSeconds)
	var lat []time.Duration
	var lastRecv time.Time
	reached := make([]bool, sent+1) // by seq: some fast subscriber got it
	res.Groups = newGroupStats(ld.groups)
	for i, s := range subs {
		res.Duplicates += s.dups
		res.OutOfOrder += s.late
		if res.FirstOdd == "" && s.firstOdd != "" {
			res.FirstOdd = fmt.Sprintf("subscriber %d: %s", i, s.firstOdd)
		}
		var glat *[]time.Duration
		if len(ld.groups) > 0 {
			g := &res.Groups[i%len(ld.groups)]
			g.Subscribers++
			g.Frames += len(s.seqs)
			g.Mismatched += s.bad
			g.Duplicates += s.dups
			g.OutOfOrder += s.late
			if s.bad > 0 && g.FirstMismatch == "" {
				g.FirstMismatch = s.badMsg
			}
			glat = &g.lat
		}
		<-s.done
		res.Delivered += len(s.seqs)
		res.DeliveredBytes += s.bytes
		res.ClientDropped += s.conn.Dropped()
		if last > 0 && s.maxSeq.Load() >= last {
			res.GotLast++
		}
		for i, seq := range s.seqs {
			if seq < 1 || seq > int64(sent) {
				continue
			}
			reached[seq] = true
			d := s.at[i].Sub(sentAt[seq])
			lat = append(lat, d)
			if glat != nil {
				*glat = append(*glat, d)
			}
			if s.at[i].After(lastRecv) {
				lastRecv = s.at[i]
			}
		}
	}
	if ld.subs > 0 {
		for _, seq := range acks.seqs {
			if seq >= 1 && seq <= int64(sent) && !reached[seq] {
				res.ReachedNobody++
			}
		}
		res.Waste = ratio(float64(res.ReachedNobody), float64(res.Published))
	}
	res.Latency = summarize(lat)
	for i := range res.Groups {
		res.Groups[i].Latency = summarize(res.Groups[i].lat)
	}
	if !lastRecv.IsZero() {
		res.DeliverySeconds = lastRecv.Sub(start).Seconds()
	}
	res.DeliveredFPS = ratio(float64(res.Delivered), res.DeliverySeconds)
	res.DeliveredMBps = ratio(float64(res.DeliveredBytes)/1e6, res.DeliverySeconds)
	res.DeliveryRatio = ratio(float64(res.Delivered), float64(res.Published*ld.subs))
	if proc != nil && res.Published > 0 {
		res.CPUPerFrameMS = proc.CPUSeconds * 1000 / float64(res.Published)
	}
	if proc != nil && res.DeliveredBytes > 0 {
		res.CPUPerGB = proc.CPUSeconds / (float64(res.DeliveredBytes) / 1e9)
	}
	if proc != nil && proc.CPUSeconds > 0 {
		res.MBPerCPUSecond = float64(res.DeliveredBytes) / 1e6 / proc.CPUSeconds
	}
	if pubErr == nil {
		pubErr = perr
	}
	return res, proc, errors.Join(pubErr, res.check(t.impl))
}

// check turns broken promises into a scenario failure.
func (r *FanoutResult) check(impl string) error {
	var errs []error
	if r.Published == 0 {
		errs = append(errs, errors.New("no frame was acked"))
	}
	if r.Rejected > 0 || r.Lost > 0 {
		errs = append(errs, fmt.Errorf("%d frames rejected and %d lost, want none", r.Rejected, r.Lost))
	}
	// Latest-wins may skip frames but never the newest one: every reader
	// gets the last frame published. The floor delivers everything, given
	// time; a floor that has not finished draining is reported, not failed.
	if impl == implRelay && r.GotLast < r.Subscribers {
		errs = append(errs, fmt.Errorf("%d of %d subscribers got the last frame, want all", r.GotLast, r.Subscribers))
	}
	if impl == implFloor && !r.DrainTimedOut && r.DeliveryRatio < 1 {
		errs = append(errs, fmt.Errorf("floor delivery ratio %.3f, want 1", r.DeliveryRatio))
	}
	if r.Duplicates > 0 || r.OutOfOrder > 0 {
		where := ""
		for _, g := range r.Groups {
			if g.Duplicates > 0 || g.OutOfOrder > 0 {
				where += fmt.Sprintf("; %s: %d twice, %d out of order", g.Name, g.Duplicates, g.OutOfOrder)
			}
		}
		errs = append(errs, fmt.Errorf("%d frames received twice and %d out of order, want none (first: %s%s)", r.Duplicates, r.OutOfOrder, r.FirstOdd, where))
	}
	for _, g := range r.Groups {
		if g.Mismatched > 0 {
			errs = append(errs, fmt.Errorf("rendition %s: %d frames not as asked, first: %s", g.Name, g.Mismatched, g.FirstMismatch))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s: %w", ErrScenarioFailed, impl, errors.Join(errs...))
}
