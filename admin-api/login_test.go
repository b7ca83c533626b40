package adminapi

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// proxiedEnv is an admin API that believes X-Forwarded-For from loopback,
// so a test can log in from many client addresses.
func proxiedEnv(t *testing.T) *env {
	cfg := testConfig()
	cfg.TrustedProxies = []string{"127.0.0.1/32"}
	return start(t, newCluster(t), cfg, nil)
}

// loginFrom tries a login from client ip.
func (e *env) loginFrom(ip, user, pw string) response {
	e.t.Helper()
	return e.call("POST", "/api/v1/auth/login", "", `{"username":"`+user+`","password":"`+pw+`"}`, "X-Forwarded-For: "+ip)
}

// Concurrent logins from many clients (each with its own throttle budget)
// run at most maxPasswordChecks argon2 checks at once; the others wait a
// bounded time or get 503 login_busy, and a login afterwards succeeds.
func TestConcurrentLoginsRunBoundedPasswordChecks(t *testing.T) {
	e := proxiedEnv(t)
	const logins = 40
	codes := make([]int, logins)
	var wg sync.WaitGroup
	for i := range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.loginFrom(fmt.Sprintf("10.7.%d.%d", i/200, i%200+1), fmt.Sprintf("nobody-%d", i), "wrong-password-123")
			codes[i] = r.code
			if r.code == http.StatusServiceUnavailable && (r.body["error"] != "login_busy" || r.header.Get("Retry-After") == "") {
				t.Errorf("login %d: %s (Retry-After %q), want login_busy with Retry-After", i, r.raw, r.header.Get("Retry-After"))
			}
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusUnauthorized && c != http.StatusServiceUnavailable {
			t.Errorf("login %d: status %d, want 401 or 503", i, c)
		}
	}
	if got := e.srv.pw.maxRunning(); got < 1 || got > maxPasswordChecks {
		t.Fatalf("%d password checks ran at once, want 1 to %d", got, maxPasswordChecks)
	}
	if r := e.loginFrom("10.7.9.9", "admin", strong); r.code != http.StatusOK {
		t.Fatalf("login after the burst: %d %s", r.code, r.raw)
	}
}

// Concurrent wrong passwords for one account from one client are counted
// before the password is checked: no more checks run than the free
// attempts, the rest are throttled at once.
func TestConcurrentLoginsAreCountedBeforeTheCheck(t *testing.T) {
	e := proxiedEnv(t)
	const logins = 20
	var mu sync.Mutex
	byCode := map[int]int{}
	var wg sync.WaitGroup
	for range logins {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := e.loginFrom("10.8.0.1", "admin", "wrong-password-123")
			mu.Lock()
			byCode[r.code]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	free := testConfig().LoginFreeAttempts
	if byCode[http.StatusUnauthorized] > free || byCode[http.StatusUnauthorized]+byCode[http.StatusTooManyRequests] != logins {
		t.Fatalf("answers by status %v: want at most %d password checks (401), the rest 429", byCode, free)
	}
}

// Failed logins from one client do not lock the account for another:
// the throttle counts per account and client network.
func TestLockoutIsPerClient(t *testing.T) {
	e := proxiedEnv(t)
	for range 10 {
		r := e.loginFrom("10.9.0.1", "admin", "wrong-password-123")
		if r.code == http.StatusTooManyRequests {
			e.clock.add(time.Duration(max(1, retryAfter(r))) * time.Second)
			r = e.loginFrom("10.9.0.1", "admin", "wrong-password-123")
		}
		if r.code != http.StatusUnauthorized {
			t.Fatalf("failed login: %d %s", r.code, r.raw)
		}
	}
	if r := e.loginFrom("10.9.0.1", "admin", strong); r.code != http.StatusTooManyRequests {
		t.Fatalf("the failing client with the right password: %d %s, want 429", r.code, r.raw)
	}
	if r := e.loginFrom("10.9.0.2", "admin", strong); r.code != http.StatusOK {
		t.Fatalf("another client with the right password: %d %s, want 200", r.code, r.raw)
	}
}

// The Authorization scheme is case-insensitive (RFC 9110 section 11.1).
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	e := newEnv(t)
	token := e.login("admin", strong)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		if r := e.call("GET", "/api/v1/auth/me", "", "", "Authorization: "+scheme+" "+token); r.code != http.StatusOK {
			t.Errorf("%s scheme: %d %s, want 200", scheme, r.code, r.raw)
		}
	}
	for _, h := range []string{"Basic " + token, "Bearer", "Bearertoken " + token, token} {
		if r := e.call("GET", "/api/v1/auth/me", "", "", "Authorization: "+h); r.code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %d, want 401", strings.SplitN(h, " ", 2)[0], r.code)
		}
	}
}

func retryAfter(r response) int {
	n := 0
	_, _ = fmt.Sscan(r.header.Get("Retry-After"), &n)
	return n
}
