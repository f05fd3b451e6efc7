package client

import (
	"math/rand/v2"
	"time"
)

// backoff is exponential backoff with "equal jitter": attempt n waits a random
// time in [d/2, d] where d = min(max, min·2ⁿ). It never waits 0 and never more
// than max.
type backoff struct {
	min, max time.Duration
}

func (b backoff) delay(attempt int, rnd func() float64) time.Duration {
	d := b.min
	for i := 0; i < attempt && d < b.max; i++ {
		d *= 2
	}
	if d > b.max {
		d = b.max
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	half := d / 2
	return half + time.Duration(rnd()*float64(d-half))
}
