package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Repeat is one repeat of a scenario run with --repeat.
type Repeat struct {
	Index   int      `json:"index"`
	LoadAvg string   `json:"loadavg_start"`
	Seconds float64  `json:"seconds"`
	Ratios  []Ratio  `json:"ratios"`
	Targets []Target `json:"targets,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// inOrder returns xs, reversed on the odd repeats of --repeat, so that
// neither the relay nor the floor always runs first on a machine whose load
// drifts.
func inOrder[T any](o *Options, xs []T) []T {
	if !o.reverse {
		return xs
	}
	out := slices.Clone(xs)
	slices.Reverse(out)
	return out
}

// repeatScenario runs a scenario o.Repeat times and reports the medians.
func repeatScenario(ctx context.Context, scenario string, run func(context.Context, *Options, *Report) error, o *Options) (*Report, error) {
	var reps []*Report
	var errs []error
	for i := 0; i < o.Repeat && ctx.Err() == nil; i++ {
		oi := *o
		oi.reverse = i%2 == 1
		rep := newReport(scenario, &oi)
		err := run(ctx, &oi, rep)
		rep.Seconds = time.Since(rep.Started).Seconds()
		reps = append(reps, rep)
		if err != nil {
			errs = append(errs, fmt.Errorf("repeat %d: %w", i+1, err))
			break
		}
	}
	return combine(reps), errors.Join(errs...)
}

// combine makes one report of several repeats: the median of each ratio and
// target, and the runs of the repeat whose first ratio is the median.
func combine(reps []*Report) *Report {
	if len(reps) == 1 {
		return reps[0]
	}
	first := func(r *Report) float64 {
		if len(r.Ratios) == 0 {
			return 0
		}
		return r.Ratios[0].Value
	}
	idx := make([]int, len(reps))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch fa, fb := first(reps[a]), first(reps[b]); {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	})
	mid := idx[(len(idx)-1)/2]
	out := *reps[mid]
	out.Started = reps[0].Started
	out.Seconds = 0
	out.Ratios = nil
	out.Targets = nil
	out.Notes = slices.Clone(reps[mid].Notes)
	for i, r := range reps {
		out.Seconds += r.Seconds
		rp := Repeat{Index: i, LoadAvg: r.Machine.LoadAvg, Seconds: r.Seconds, Ratios: r.Ratios, Targets: r.Targets}
		for _, run := range r.Runs {
			if run.Error != "" {
				rp.Error = run.Name + ": " + run.Error
			}
		}
		out.Repeats = append(out.Repeats, rp)
	}
	for _, x := range reps[mid].Ratios {
		vals := collect(reps, func(r *Report) (float64, bool) {
			for _, y := range r.Ratios {
				if y.Name == x.Name {
					return y.Value, true
				}
			}
			return 0, false
		})
		x.Value = median(vals)
		x.Note = joinNote(x.Note, "median of "+list(vals, func(v float64) string { return fmt.Sprintf("%.3f", v) }))
		out.Ratios = append(out.Ratios, x)
	}
	for _, t := range reps[mid].Targets {
		vals := collect(reps, func(r *Report) (float64, bool) {
			for _, y := range r.Targets {
				if y.Name == t.Name {
					return y.Value, true
				}
			}
			return 0, false
		})
		t.Value = median(vals)
		t.check()
		t.Got = t.format(t.Value) + " (median of " + list(vals, t.format) + ")"
		out.Targets = append(out.Targets, t)
	}
	out.Notes = append(out.Notes, fmt.Sprintf("repeated %d times, alternating the order of the runs; ratios and targets are medians, the table is repeat #%d (the median of the first ratio)", len(reps), mid+1))
	return &out
}

func collect(reps []*Report, f func(*Report) (float64, bool)) []float64 {
	var vals []float64
	for _, r := range reps {
		if v, ok := f(r); ok {
			vals = append(vals, v)
		}
	}
	return vals
}

// median of vals (the mean of the middle two for an even count).
func median(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func list(vals []float64, f func(float64) string) string {
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = f(v)
	}
	return strings.Join(parts, ", ")
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
