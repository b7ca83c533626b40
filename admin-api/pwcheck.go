package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/trackstream/trackstream/internal/password"
)

// Bounds of the password checks (argon2id, about 19 MiB and tens of
// milliseconds of CPU each): at most maxPasswordChecks run at once in the
// process, at most maxPasswordWaiters more wait for a slot, each at most
// passwordWait; beyond that a login is refused with 503 at once. So
// concurrent logins, whoever sends them, cost a fixed amount of memory and
// CPU and leave the rest of the process (ingest, in `trackstream all`)
// its cores.
var maxPasswordChecks = min(runtime.GOMAXPROCS(0), 4)

const (
	maxPasswordWaiters = 32
	passwordWait       = 2 * time.Second
)

// pwChecks admits password checks within the bounds above and remembers
// how many ran at once at most.
type pwChecks struct {
	slots chan struct{}

	mu      sync.Mutex
	waiting int
	running int
	peak    int
}

func newPWChecks(n int) *pwChecks { return &pwChecks{slots: make(chan struct{}, n)} }

var errLoginBusy = &apiError{Status: http.StatusServiceUnavailable, Code: "login_busy",
	Message: "too many password checks are running; retry in a second", retryAfter: 1}

// verify checks pw against hash within the bounds, or answers
// errLoginBusy.
func (c *pwChecks) verify(ctx context.Context, pw, hash string) (bool, error) {
	c.mu.Lock()
	if c.waiting >= maxPasswordWaiters {
		c.mu.Unlock()
		return false, errLoginBusy
	}
	c.waiting++
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, passwordWait)
	defer cancel()
	admitted := false
	select {
	case c.slots <- struct{}{}:
		admitted = true
	case <-ctx.Done():
	}
	c.mu.Lock()
	c.waiting--
	if admitted {
		c.running++
		c.peak = max(c.peak, c.running)
	}
	c.mu.Unlock()
	if !admitted {
		return false, errLoginBusy
	}
	defer func() {
		c.mu.Lock()
		c.running--
		c.mu.Unlock()
		<-c.slots
	}()
	ok, err := password.Verify(pw, hash)
	if err != nil {
		return false, fmt.Errorf("verify password of a stored user: %w", err)
	}
	return ok, nil
}

// maxRunning is the most checks that ran at once so far.
func (c *pwChecks) maxRunning() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak
}
