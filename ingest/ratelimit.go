package ingest

import (
	"math"
	"sync"
	"time"
)

// limiter is a token bucket per source: rate requests per second with
// bursts of up to rate requests, per ingest replica. Its memory is bounded
// by the number of sources that have a rate limit.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	rate   int
	tokens float64
	last   time.Time
}

func newLimiter() *limiter { return &limiter{buckets: map[string]*bucket{}} }

// allow takes a token for source id limited to rate requests per second
// (0 is unlimited) at now. When none is left it returns false and how long
// until one is.
func (l *limiter) allow(id string, rate int, now time.Time) (bool, time.Duration) {
	if rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[id]
	if !ok || b.rate != rate {
		b = &bucket{rate: rate, tokens: float64(rate), last: now}
		l.buckets[id] = b
	}
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(float64(rate), b.tokens+elapsed.Seconds()*float64(rate))
		b.last = now
	}
	// The epsilon absorbs float rounding, so waiting the returned time
	// is always enough.
	if b.tokens >= 1-1e-9 {
		b.tokens = max(0, b.tokens-1)
		return true, 0
	}
	wait := time.Duration(math.Ceil((1 - b.tokens) / float64(rate) * float64(time.Second)))
	return false, wait
}
