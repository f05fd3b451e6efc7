package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is the result of one scenario: its runs side by side, the ratios
// of the relay to the floor, and the targets of issue 9.
type Report struct {
	Scenario string      `json:"scenario"`
	Quick    bool        `json:"quick,omitempty"`
	Started  time.Time   `json:"started"`
	Seconds  float64     `json:"seconds"`
	Params   Params      `json:"params"`
	Machine  Machine     `json:"machine"`
	Relay    string      `json:"relay"` // where the relay ran
	Floor    string      `json:"floor"` // where the floor ran
	Runs     []RunResult `json:"runs"`
	Ratios   []Ratio     `json:"ratios"`
	Targets  []Target    `json:"targets,omitempty"`
	Notes    []string    `json:"notes,omitempty"`
	// Repeats lists every repeat's ratios when the scenario ran more than
	// once (--repeat); Ratios and Targets are then their medians, and Runs
	// are those of the median repeat.
	Repeats []Repeat `json:"repeats,omitempty"`

	rows func(*Report) []row // the human table, per scenario
}

// Params are the options in force.
type Params struct {
	Subscribers  int     `json:"subscribers,omitempty"`
	Stalled      int     `json:"stalled,omitempty"`
	FrameBytes   int     `json:"frame_bytes,omitempty"`
	Canvas       string  `json:"canvas,omitempty"` // renditions: the source's width x height
	Rate         float64 `json:"rate"`
	Window       int     `json:"window,omitempty"`
	Pace         string  `json:"pace,omitempty"`
	Reader       string  `json:"reader,omitempty"`
	Frames       int     `json:"max_frames,omitempty"`
	Duration     float64 `json:"max_duration_seconds,omitempty"`
	Drain        float64 `json:"max_drain_seconds,omitempty"`
	Conns        int     `json:"conns,omitempty"`
	PerRoom      int     `json:"per_room,omitempty"`
	Concurrency  int     `json:"concurrency"`
	WriteTimeout float64 `json:"write_timeout_seconds,omitempty"`
	// FloorEvents: the floor sent a frame event before each image.
	FloorEvents bool `json:"floor_events,omitempty"`
	// The patches scenario's.
	Browser string  `json:"browser,omitempty"`
	Strokes int     `json:"strokes,omitempty"`
	Typing  float64 `json:"typing_seconds,omitempty"`
	Seed    int64   `json:"seed,omitempty"`
	// ShareQuality is the typing share's WebP quality (1: lossless).
	ShareQuality float64 `json:"share_quality,omitempty"`
}

// Machine describes where the numbers come from.
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	MemTotal   string `json:"mem_total,omitempty"`
	LoadAvg    string `json:"loadavg_start,omitempty"` // 1, 5 and 15 minute load when the run began
	Go         string `json:"go"`
	OS         string `json:"os"`
}

// RunResult is one measured run.
type RunResult struct {
	Name    string         `json:"name"`
	Impl    string         `json:"impl"`            // relay or floor
	Where   string         `json:"where,omitempty"` // the server(s) it ran on
	Fanout  *FanoutResult  `json:"fanout,omitempty"`
	Idle    *IdleResult    `json:"idle,omitempty"`
	Patches *PatchesResult `json:"patches,omitempty"`
	Proc    *ProcResult    `json:"proc,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// Ratio is the relay's figure over another run's.
type Ratio struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Note  string  `json:"note,omitempty"`
}

// Target is one of the goals of issue 9, checked against this run.
type Target struct {
	Name  string  `json:"name"`
	Want  string  `json:"want"`
	Got   string  `json:"got"`
	Value float64 `json:"value"` // what was measured, in Unit
	Limit float64 `json:"limit"`
	Cmp   string  `json:"cmp"`            // how Value must compare with Limit: ">=", "<=" or "=="
	Unit  string  `json:"unit,omitempty"` // "x" (a ratio), "bytes", or "" (a plain number)
	Met   bool    `json:"met"`
	// Applies is false when the run's parameters are not those the target is
	// defined at: the check is then only indicative.
	Applies bool   `json:"applies"`
	Note    string `json:"note,omitempty"`
	// Issue is the issue that set the target: 9 (the default, 0), 17 or 18.
	Issue int `json:"issue,omitempty"`
}

// check sets Met from Value, Cmp and Limit.
func (t *Target) check() {
	switch t.Cmp {
	case ">=":
		t.Met = t.Value >= t.Limit
	case "<=":
		t.Met = t.Value <= t.Limit
	default:
		t.Met = t.Value == t.Limit
	}
}

// format prints v in the target's unit.
func (t *Target) format(v float64) string {
	switch t.Unit {
	case "x":
		return fmt.Sprintf("%.2fx", v)
	case "bytes":
		return iec(v)
	}
	return fmt.Sprintf("%.3f", v)
}

// addTarget checks t and adds it.
func (r *Report) addTarget(t Target) {
	t.check()
	r.Targets = append(r.Targets, t)
}

type row struct {
	label string
	vals  []string
}

func newReport(scenario string, o *Options) *Report {
	return &Report{
		Scenario: scenario,
		Quick:    o.Quick,
		Started:  time.Now(),
		Machine:  machine(),
		Params: Params{
			Concurrency: o.Concurrency,
			FloorEvents: o.FloorEvents,
		},
	}
}

func (r *Report) run(name string) *RunResult {
	for i := range r.Runs {
		if r.Runs[i].Name == name {
			return &r.Runs[i]
		}
	}
	return nil
}

func (r *Report) note(format string, a ...any) { r.Notes = append(r.Notes, fmt.Sprintf(format, a...)) }

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "canvasrelay bench %s", r.Scenario)
	if r.Quick {
		fmt.Fprint(bw, " (quick)")
	}
	fmt.Fprintf(bw, "  %s, %.1fs\n", r.Started.Format(time.RFC3339), r.Seconds)
	m := r.Machine
	fmt.Fprintf(bw, "machine: %d CPUs (GOMAXPROCS %d), %s, %s RAM, load %s, %s %s\n",
		m.CPUs, m.GOMAXPROCS, orDash(m.CPUModel), orDash(m.MemTotal), orDash(m.LoadAvg), m.Go, m.OS)
	fmt.Fprintf(bw, "relay: %s\nfloor: %s\n", r.Relay, r.Floor)
	fmt.Fprintf(bw, "params: %s\n\n", r.Params.String())

	if r.rows != nil && len(r.Runs) > 0 {
		tw := tabwriter.NewWriter(bw, 0, 0, 2, ' ', tabwriter.AlignRight)
		head := []string{""}
		for _, run := range r.Runs {
			head = append(head, run.Name)
		}
		fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
		for _, rw := range r.rows(r) {
			fmt.Fprintln(tw, rw.label+"\t"+strings.Join(rw.vals, "\t")+"\t")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, run := range r.Runs {
		if run.Error != "" {
			fmt.Fprintf(bw, "\n%s FAILED: %s\n", run.Name, run.Error)
		}
	}
	if len(r.Ratios) > 0 {
		fmt.Fprintln(bw, "\nratios:")
		for _, x := range r.Ratios {
			fmt.Fprintf(bw, "  %-48s %7.3f", x.Name, x.Value)
			if x.Note != "" {
				fmt.Fprintf(bw, "  (%s)", x.Note)
			}
			fmt.Fprintln(bw)
		}
	}
	for _, issue := range []int{9, 17, 18} {
		header := false
		for _, t := range r.Targets {
			if max(t.Issue, 9) != issue {
				continue
			}
			if !header {
				fmt.Fprintf(bw, "\ntargets (issue %d):\n", issue)
				header = true
			}
			verdict := "MISSED"
			if t.Met {
				verdict = "met"
			}
			if !t.Applies {
				verdict += " (indicative: not the target's parameters)"
			}
			fmt.Fprintf(bw, "  %s: want %s, got %s: %s\n", t.Name, t.Want, t.Got, verdict)
			if t.Note != "" {
				fmt.Fprintf(bw, "    %s\n", t.Note)
			}
		}
	}
	if len(r.Repeats) > 0 {
		fmt.Fprintf(bw, "\nrepeats (%d, alternating the order of the runs):\n", len(r.Repeats))
		for _, rp := range r.Repeats {
			fmt.Fprintf(bw, "  #%d  load %s  %.1fs", rp.Index+1, rp.LoadAvg, rp.Seconds)
			for i, x := range rp.Ratios {
				if i == 3 {
					break
				}
				fmt.Fprintf(bw, "  %s %.3f", x.Name, x.Value)
			}
			if rp.Error != "" {
				fmt.Fprintf(bw, "  FAILED: %s", rp.Error)
			}
			fmt.Fprintln(bw)
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(bw, "\nnotes:")
		for _, n := range r.Notes {
			fmt.Fprintf(bw, "  - %s\n", n)
		}
	}
	return bw.Flush()
}

func (p Params) String() string {
	var parts []string
	add := func(cond bool, format string, a ...any) {
		if cond {
			parts = append(parts, fmt.Sprintf(format, a...))
		}
	}
	add(p.Subscribers > 0, "subscribers=%d", p.Subscribers)
	add(p.Stalled > 0, "stalled=%d", p.Stalled)
	add(p.Canvas != "", "canvas=%s", p.Canvas)
	add(p.FrameBytes > 0, "size=%s", iec(float64(p.FrameBytes)))
	if p.FrameBytes > 0 {
		if p.Rate > 0 {
			parts = append(parts, fmt.Sprintf("rate=%g/s", p.Rate))
		} else {
			parts = append(parts, "rate=max")
		}
	}
	add(p.Window > 0, "window=%d", p.Window)
	add(p.Pace != "", "pace=%s", p.Pace)
	add(p.Reader != "", "reader=%s", p.Reader)
	add(p.Frames > 0, "frames<=%d", p.Frames)
	add(p.Duration > 0, "duration<=%gs", p.Duration)
	add(p.Conns > 0, "conns=%d", p.Conns)
	add(p.PerRoom > 0, "per-room=%d", p.PerRoom)
	add(p.WriteTimeout > 0, "write-timeout=%gs", p.WriteTimeout)
	add(p.FloorEvents, "floor=events")
	add(p.Strokes > 0, "strokes=%d", p.Strokes)
	add(p.Typing > 0, "typing=%gs", p.Typing)
	add(p.Seed != 0, "seed=%d", p.Seed)
	add(p.ShareQuality > 0, "share-quality=%g", p.ShareQuality)
	add(p.Browser != "", "browser=%s", p.Browser)
	add(p.Concurrency > 0, "concurrency=%d", p.Concurrency)
	return strings.Join(parts, " ")
}

// machine reads what describes this machine.
func machine() Machine {
	m := Machine{
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Go:         runtime.Version(),
		OS:         runtime.GOOS + "/" + runtime.GOARCH,
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name", ":")
	if kb := procField("/proc/meminfo", "MemTotal", ":"); kb != "" {
		var n float64
		if _, err := fmt.Sscanf(kb, "%f kB", &n); err == nil {
			m.MemTotal = iec(n * 1024)
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// procField returns the value of the first "key<sep> value" line of path.
func procField(path, key, sep string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// iec formats bytes as B, KiB, MiB or GiB.
func iec(b float64) string {
	neg := b < 0
	if neg {
		b = -b
	}
	u := "B"
	for _, x := range []string{"KiB", "MiB", "GiB"} {
		if b < 1024 {
			break
		}
		b /= 1024
		u = x
	}
	s := fmt.Sprintf("%.1f %s", b, u)
	if u == "B" {
		s = fmt.Sprintf("%.0f B", b)
	}
	if neg {
		return "-" + s
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
