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

// attempt admits an attempt of key at now and records it as a failure
// before the caller does the work (a password check), so concurrent
// attempts cannot all pass the check before any failure is recorded. A
// positive result is how long key must still wait; nothing is recorded
// then. A successful or abandoned attempt is taken back with succeed or
// forgive.
func (t *throttle) attempt(key string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if a, ok := t.entries[key]; ok && !(now.Sub(a.last) > t.lockout && !now.Before(a.notUntil)) && now.Before(a.notUntil) {
		return a.notUntil.Sub(now)
	}
	t.failLocked(key, now)
	return 0
}

// forgive takes back one attempt of key that turned out not to count.
func (t *throttle) forgive(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	a, ok := t.entries[key]
	if !ok {
		return
	}
	if a.failures--; a.failures <= 0 {
		delete(t.entries, key)
	} else if a.failures < t.free {
		a.notUntil = time.Time{}
	}
}

// failLocked records a failed attempt of key at now.
func (t *throttle) failLocked(key string, now time.Time) {
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
