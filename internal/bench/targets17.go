package bench

import "fmt"

// Issue 17's targets for the fanout scenario: 1 publisher, 100 KB frames,
// ack-paced with 4 in flight, at 100 and 500 subscribers, against the floor
// of the same run.
const (
	wantMBpsOverFloor   = 1.1  // delivered MB/s, relay/floor
	wantEfficiencyFloor = 1.0  // delivered MB per server CPU-second, relay/floor (at 100)
	wantMaxWaste        = 0.10 // accepted frames that reached no subscriber
	wantMaxP99OverFloor = 1.0  // latency p99, relay/floor
	wantMaxRSSOverFloor = 1.5  // peak server RSS, relay/floor
)

// fanoutIssue17 adds the ratios and targets of issue 17 for a relay run a
// (with proc pa) and a floor run b (pb).
func fanoutIssue17(rep *Report, o *Options, a, b *FanoutResult, pa, pb *ProcResult) {
	applies := (o.Subscribers == 100 || o.Subscribers == 500) && o.Size >= 100_000 && o.Size <= 102_400 &&
		o.Rate == 0 && o.Pace == PaceAck && o.Window == 4
	rep.Ratios = append(rep.Ratios, Ratio{Name: "relay waste: acked frames that reached nobody", Value: a.Waste, Note: fmt.Sprintf("%d of %d", a.ReachedNobody, a.Published)})
	if a.MBPerCPUSecond > 0 && b.MBPerCPUSecond > 0 {
		note := "higher is better"
		if pa != nil && pa.PID > 0 && pb != nil && pa.PID == pb.PID {
			note += "; in-process this counts the bench's clients too"
		}
		eff := ratio(a.MBPerCPUSecond, b.MBPerCPUSecond)
		rep.Ratios = append(rep.Ratios, Ratio{Name: "delivered MB per server CPU-second, relay/floor", Value: eff, Note: note})
		rep.addTarget(Target{
			Issue: 17, Name: "fanout: server efficiency",
			Want:  fmt.Sprintf(">= %.2fx the floor's delivered MB per CPU-second", wantEfficiencyFloor),
			Got:   fmt.Sprintf("%.2fx (%.0f vs %.0f MB per CPU-second)", eff, a.MBPerCPUSecond, b.MBPerCPUSecond),
			Value: eff, Cmp: ">=", Limit: wantEfficiencyFloor, Unit: "x",
			Applies: applies && o.Subscribers == 100, Note: note,
		})
	}
	if pa != nil && pb != nil && pb.RSSMax > 0 {
		rss := ratio(float64(pa.RSSMax), float64(pb.RSSMax))
		rep.Ratios = append(rep.Ratios, Ratio{Name: "peak RSS, relay/floor", Value: rss, Note: "lower is better"})
		rep.addTarget(Target{
			Issue: 17, Name: "fanout: peak server RSS",
			Want:  fmt.Sprintf("<= %.1fx the floor's", wantMaxRSSOverFloor),
			Got:   fmt.Sprintf("%.2fx (%s vs %s)", rss, iec(float64(pa.RSSMax)), iec(float64(pb.RSSMax))),
			Value: rss, Cmp: "<=", Limit: wantMaxRSSOverFloor, Unit: "x", Applies: applies,
		})
	}
	mbps := ratio(a.DeliveredMBps, b.DeliveredMBps)
	rep.addTarget(Target{
		Issue: 17, Name: fmt.Sprintf("fanout: delivered MB/s at %d subscribers", o.Subscribers),
		Want:  fmt.Sprintf(">= %.2fx the floor's", wantMBpsOverFloor),
		Got:   fmt.Sprintf("%.2fx (%.0f vs %.0f MB/s)", mbps, a.DeliveredMBps, b.DeliveredMBps),
		Value: mbps, Cmp: ">=", Limit: wantMBpsOverFloor, Unit: "x", Applies: applies,
	})
	rep.addTarget(Target{
		Issue: 17, Name: "fanout: acked frames that reached no subscriber",
		Want:  fmt.Sprintf("<= %.0f%%", 100*wantMaxWaste),
		Got:   fmt.Sprintf("%.1f%% (%d of %d)", 100*a.Waste, a.ReachedNobody, a.Published),
		Value: a.Waste, Cmp: "<=", Limit: wantMaxWaste, Applies: applies,
	})
	p99 := ratio(a.Latency.P99, b.Latency.P99)
	rep.addTarget(Target{
		Issue: 17, Name: "fanout: latency p99",
		Want:  "<= the floor's",
		Got:   fmt.Sprintf("%.2fx (%.1f vs %.1f ms)", p99, a.Latency.P99, b.Latency.P99),
		Value: p99, Cmp: "<=", Limit: wantMaxP99OverFloor, Unit: "x", Applies: applies,
	})
}
