package adminapi

import (
	"sync"
	"time"
)

// throttle slows down and then locks out repeated failed logins for one key
// (an account name or a client network). After free failures each further
// attempt must wait a delay that doubles from one second, capped at the
// lockout; at lockAt failures the key is locked for the lockout. Failures
// are forgotten a lockout period after the last one. Memory is bounded by
// maxEntries keys.
type throttle struct {
	free, lockAt int
	lockout      time.Duration
	maxEntries   int

	mu      sync.Mutex
	entries map[string]*attempts
}

type attempts struct {
	failures int
	notUntil time.Time // refused before this
	last     time.Time
}

func newThrottle(free, lockAt int, lockout time.Duration, maxEntries int) *throttle {
	return &throttle{free: free, lockAt: lockAt, lockout: lockout, maxEntries: maxEntries, entries: map[string]*attempts{}}
}

// wait returns how long key must still wait before its next attempt; zero
// means it may try now.
func (t *throttle) wait(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.entries[key]
	if !ok || now.Sub(a.last) > t.lockout && !now.Before(a.notUntil) {
		return 0
	}
	return max(0, a.notUntil.Sub(now))
}

// fail records a failed attempt of key at now.
func (t *throttle) fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.entries[key]
	if ok && now.Sub(a.last) > t.lockout && !now.Before(a.notUntil) {
		ok = false // the old failures have expired
	}
	if !ok {
		t.makeRoom(now)
		a = &attempts{}
		t.entries[key] = a
	}
	a.failures++
	a.last = now
	switch {
	case a.failures >= t.lockAt:
		a.notUntil = now.Add(t.lockout)
	case a.failures >= t.free:
		a.notUntil = now.Add(min(time.Second<<min(a.failures-t.free, 30), t.lockout))
	}
}

// succeed forgets the failures of key.
func (t *throttle) succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.entries, key)
}

// makeRoom drops expired entries when the map is full, and if it is still
// full, the entry with the oldest last failure.
func (t *throttle) makeRoom(now time.Time) {
	if len(t.entries) < t.maxEntries {
		return
	}
	var oldestKey string
	var oldest time.Time
	for k, a := range t.entries {
		if now.Sub(a.last) > t.lockout && !now.Before(a.notUntil) {
			delete(t.entries, k)
			continue
		}
		if oldestKey == "" || a.last.Before(oldest) {
			oldestKey, oldest = k, a.last
		}
	}
	if len(t.entries) >= t.maxEntries {
		delete(t.entries, oldestKey)
	}
}
