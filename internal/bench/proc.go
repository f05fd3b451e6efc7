package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. It
// is 100 on every Linux architecture Go supports.
const clockTicks = 100

// ProcSample is one reading of a process's CPU time and memory.
type ProcSample struct {
	At  time.Time
	CPU time.Duration // user + system CPU time since the process started
	RSS int64         // resident set size, bytes (VmRSS)
	HWM int64         // peak resident set size, bytes (VmHWM)
}

// ReadProc reads /proc/PID/stat and /proc/PID/status.
func ReadProc(pid int) (ProcSample, error) {
	s := ProcSample{At: time.Now()}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrProc, err)
	}
	if s.CPU, err = parseStatCPU(stat); err != nil {
		return s, fmt.Errorf("%w: /proc/%d/stat: %w", ErrProc, pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("%w: %w", ErrProc, err)
	}
	if s.RSS, s.HWM, err = parseStatusMem(status); err != nil {
		return s, fmt.Errorf("%w: /proc/%d/status: %w", ErrProc, pid, err)
	}
	return s, nil
}

// parseStatCPU returns utime + stime from the contents of /proc/PID/stat.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("no ')' in %.60q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q / stime %q are not numbers", f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// parseStatusMem returns VmRSS and VmHWM, in bytes, from /proc/PID/status.
func parseStatusMem(b []byte) (rss, hwm int64, err error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	found := 0
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, 0, fmt.Errorf("%s: %q, want \"N kB\"", k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", k, err)
		}
		if k == "VmRSS" {
			rss = n << 10
		} else {
			hwm = n << 10
		}
		found++
	}
	if found < 2 {
		return 0, 0, fmt.Errorf("VmRSS or VmHWM missing")
	}
	return rss, hwm, nil
}

// ProcResult summarizes a process over one run.
type ProcResult struct {
	PID        int     `json:"pid"`
	CPUSeconds float64 `json:"cpu_seconds"` // user + system CPU used during the run
	Cores      float64 `json:"cores"`       // CPUSeconds / wall seconds
	RSSStart   int64   `json:"rss_start_bytes"`
	RSSMax     int64   `json:"rss_max_bytes"` // highest RSS sampled during the run
	RSSEnd     int64   `json:"rss_end_bytes"`
	RSSGrowth  int64   `json:"rss_growth_bytes"` // RSSMax - RSSStart
	Samples    int     `json:"samples"`
}

// sampler reads /proc/PID every interval until stop, keeping the first,
// the last and the highest RSS.
type sampler struct {
	pid    int
	first  ProcSample
	stopCh chan struct{}
	done   chan struct{}
	mu     sync.Mutex // guards max, n
	max    int64
	n      int
}

// startSampler takes a first sample at once. pid 0 returns nil (nothing to
// sample); a nil *sampler is safe to stop.
func startSampler(pid int, every time.Duration) (*sampler, error) {
	if pid == 0 {
		return nil, nil
	}
	first, err := ReadProc(pid)
	if err != nil {
		return nil, err
	}
	s := &sampler{pid: pid, first: first, max: first.RSS, n: 1, stopCh: make(chan struct{}), done: make(chan struct{})}
	go s.loop(every)
	return s, nil
}

func (s *sampler) loop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopCh:
			return
		case <-t.C:
			p, err := ReadProc(s.pid)
			if err != nil {
				continue // the process may be gone; stop reports the error
			}
			s.mu.Lock()
			s.max = max(s.max, p.RSS)
			s.n++
			s.mu.Unlock()
		}
	}
}

// stop takes a last sample and returns the summary.
func (s *sampler) stop() (*ProcResult, error) {
	if s == nil {
		return nil, nil
	}
	close(s.stopCh)
	<-s.done
	last, err := ReadProc(s.pid)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &ProcResult{
		PID:        s.pid,
		CPUSeconds: (last.CPU - s.first.CPU).Seconds(),
		RSSStart:   s.first.RSS,
		RSSMax:     max(s.max, last.RSS),
		RSSEnd:     last.RSS,
		Samples:    s.n + 1,
	}
	if wall := last.At.Sub(s.first.At).Seconds(); wall > 0 {
		r.Cores = r.CPUSeconds / wall
	}
	r.RSSGrowth = r.RSSMax - r.RSSStart
	return r, nil
}

// settleMemory returns freed memory to the OS, so that an in-process
// server's RSS at the start of a run is not inflated by the run before.
func settleMemory() {
	runtime.GC()
	debug.FreeOSMemory()
}

// goInUse is the Go heap and stacks in use after a GC: the in-process view
// of memory that does not depend on what the runtime gave back to the OS.
func goInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse + m.StackInuse)
}
