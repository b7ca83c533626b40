package adminapi

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/password"
	"github.com/trackstream/trackstream/internal/testkit"
)

func TestAdminPasswordHash(t *testing.T) {
	t.Run("weak configured password refused with the reason", func(t *testing.T) {
		_, err := AdminPasswordHash(t.TempDir(), "password2024", io.Discard)
		if err == nil || !strings.Contains(err.Error(), "commonly used") {
			t.Fatalf("got %v", err)
		}
		_, err = AdminPasswordHash(t.TempDir(), "short", io.Discard)
		if err == nil || !strings.Contains(err.Error(), "at least 12 characters") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("generated once, printed once, only the hash stored", func(t *testing.T) {
		dir := t.TempDir()
		var out bytes.Buffer
		hash, err := AdminPasswordHash(dir, "", &out)
		if err != nil {
			t.Fatal(err)
		}
		var generated string // the password is printed alone on an indented line
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.HasPrefix(line, "    ") {
				generated = strings.TrimSpace(line)
			}
		}
		if ok, err := password.Verify(generated, hash); err != nil || !ok {
			t.Fatalf("printed password %q does not match the hash (%v); output:\n%s", generated, err, out.String())
		}
		stored, err := os.ReadFile(filepath.Join(dir, passwordFile))
		if err != nil || strings.TrimSpace(string(stored)) != hash || strings.Contains(string(stored), generated) {
			t.Fatalf("stored %q, %v", stored, err)
		}
		if fi, _ := os.Stat(filepath.Join(dir, passwordFile)); fi.Mode().Perm() != 0o600 {
			t.Fatalf("hash file mode %v, want 0600", fi.Mode().Perm())
		}
		var again bytes.Buffer
		hash2, err := AdminPasswordHash(dir, "", &again)
		if err != nil || hash2 != hash || again.Len() != 0 {
			t.Fatalf("second start: hash changed or printed again (%v): %q", err, again.String())
		}
	})
	t.Run("configured password replaces the stored one", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := AdminPasswordHash(dir, "", io.Discard); err != nil {
			t.Fatal(err)
		}
		hash, err := AdminPasswordHash(dir, strong, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := password.Verify(strong, hash); !ok {
			t.Fatal("configured password does not verify")
		}
		reused, err := AdminPasswordHash(dir, "", io.Discard)
		if err != nil || reused != hash {
			t.Fatalf("restart without the variable did not keep the configured password: %v", err)
		}
	})
}

func TestThrottle(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	type step struct {
		at       time.Duration // since t0: an attempt then
		wantWait time.Duration // its answer; a zero wait records a failure
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"free attempts then doubling delays", []step{
			{0, 0}, {0, 0}, {0, 0}, // 3rd failure: 1s delay
			{0, time.Second},
			{time.Second, 0}, // 4th: 2s
			{2 * time.Second, time.Second},
			{3 * time.Second, 0}, // 5th: 4s
			{6 * time.Second, time.Second},
		}},
		{"lockout at lockAt failures, then it expires", []step{
			{0, 0}, {0, 0}, {0, 0},
			{time.Minute, 0}, {2 * time.Minute, 0}, {3 * time.Minute, 0}, // 6th: locked 15m
			{4 * time.Minute, 14 * time.Minute},
			{18 * time.Minute, 0},
			// Failures older than the lockout are forgotten: one new
			// failure does not lock again.
			{40 * time.Minute, 0},
			{40 * time.Minute, 0},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := newThrottle(3, 6, 15*time.Minute, 100)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if got := th.attempt("k", now); got != s.wantWait {
					t.Fatalf("step %d at %s: wait %s, want %s", i, s.at, got, s.wantWait)
				}
			}
		})
	}
	t.Run("success forgets; keys are separate; memory bounded", func(t *testing.T) {
		th := newThrottle(1, 2, time.Minute, 10)
		th.attempt("a", t0)
		th.attempt("b", t0)
		if th.attempt("a", t0) == 0 || th.attempt("b", t0) == 0 {
			t.Fatal("failures not counted")
		}
		th.succeed("a")
		if th.attempt("a", t0) != 0 || th.attempt("b", t0) == 0 {
			t.Fatal("success must clear only its key")
		}
		for i := range 1000 {
			th.attempt(strconv.Itoa(i), t0)
		}
		if len(th.entries) > 10 {
			t.Fatalf("%d entries kept, bound is 10", len(th.entries))
		}
	})
}

func TestLoginBruteForceHitsTheThrottle(t *testing.T) {
	e := newEnv(t) // 3 free attempts, lockout at 6
	wrong := func(user string) response {
		return e.call("POST", "/api/v1/auth/login", "", `{"username":"`+user+`","password":"not-the-right-one-1"}`)
	}
	for i := range 3 {
		// An unknown user and a wrong password get the same answer.
		a, b := wrong("admin"), wrong("nobody"+strconv.Itoa(i))
		if a.code != http.StatusUnauthorized || a.raw != b.raw {
			t.Fatalf("attempt %d: admin %d %s, unknown user %d %s; want the same 401", i, a.code, a.raw, b.code, b.raw)
		}
	}
	r := wrong("admin")
	if r.code != http.StatusTooManyRequests || r.body["error"] != "too_many_attempts" || r.header.Get("Retry-After") == "" {
		t.Fatalf("4th attempt: %d %s %v, want 429 with Retry-After", r.code, r.raw, r.header)
	}
	// While throttled even the right password is refused, so guessing
	// cannot go on in the background.
	if r := e.call("POST", "/api/v1/auth/login", "", `{"username":"admin","password":"`+strong+`"}`); r.code != http.StatusTooManyRequests {
		t.Fatalf("right password while throttled: %d", r.code)
	}
	e.clock.add(2 * time.Second)
	if r := wrong("admin"); r.code != http.StatusUnauthorized {
		t.Fatalf("after the delay: %d", r.code)
	}
	for i := 0; i < 10; i++ { // keep failing as soon as allowed: locked out
		e.clock.add(time.Minute)
		wrong("admin")
	}
	e.clock.add(time.Minute)
	r = wrong("admin")
	if secs, _ := strconv.Atoi(r.header.Get("Retry-After")); r.code != http.StatusTooManyRequests || secs < 5*60 || secs > 15*60 {
		t.Fatalf("after many failures: %d Retry-After %q, want a lockout of minutes", r.code, r.header.Get("Retry-After"))
	}
	// Per client address: unknown names from one client hit the IP limit.
	e2 := newEnv(t)
	var last response
	for i := range 14 {
		last = e2.call("POST", "/api/v1/auth/login", "", `{"username":"spray`+strconv.Itoa(i)+`","password":"not-the-right-one-1"}`)
	}
	if last.code != http.StatusTooManyRequests {
		t.Fatalf("password spraying from one IP: %d, want 429", last.code)
	}
	e.clock.add(time.Hour)
	e.login("admin", strong)
	for _, secret := range []string{"not-the-right-one-1", strong} {
		if strings.Contains(e.logs.String(), secret) {
			t.Fatalf("a password is in the log:\n%s", e.logs.String())
		}
	}
}

func TestUnknownUserTakesAsLongAsWrongPassword(t *testing.T) {
	cfg := testConfig()
	cfg.LoginFreeAttempts, cfg.LoginLockoutAttempts = 100, 1000
	e := start(t, newCluster(t), cfg, nil)
	timeLogin := func(user string) time.Duration {
		t0 := time.Now()
		e.call("POST", "/api/v1/auth/login", "", `{"username":"`+user+`","password":"not-the-right-one-1"}`)
		return time.Since(t0)
	}
	// Interleaved, and the fastest of each kept: on a loaded machine the
	// minimum is the closest to the real cost.
	known, unknown := time.Hour, time.Hour
	for range 9 {
		known = min(known, timeLogin("admin"))
		unknown = min(unknown, timeLogin("nobody"))
	}
	// Both verify one argon2id hash with the same parameters (~40 ms);
	// skipping the hash for unknown users would make them ~100x faster.
	if unknown < known/3 {
		t.Fatalf("fastest login: known user %s, unknown user %s", known, unknown)
	}
}

func TestSessions(t *testing.T) {
	c := newCluster(t)
	cfg := testConfig()
	cfg.SessionTTL, cfg.SessionIdleTTL = 2*time.Hour, 30*time.Minute
	e := start(t, c, cfg, nil)
	me := func(token string) int { return e.call("GET", "/api/v1/auth/me", token, "").code }

	tok := e.login("admin", strong)
	if len(tok) < 43 {
		t.Fatalf("token %q shorter than 256 bits", tok)
	}
	if s, ok := e.srv.st.session(digest(tok)); !ok || strings.Contains(e.logs.String(), tok) || s.Digest == tok {
		t.Fatal("session not stored by digest, or token logged")
	}
	t.Run("idle expiry", func(t *testing.T) {
		e.clock.add(29 * time.Minute)
		if me(tok) != http.StatusOK {
			t.Fatal("session refused within the idle window")
		}
		e.clock.add(29 * time.Minute) // used 29 min ago: still fine
		if me(tok) != http.StatusOK {
			t.Fatal("use did not extend the idle window")
		}
		e.clock.add(31 * time.Minute)
		if me(tok) != http.StatusUnauthorized {
			t.Fatal("idle session accepted")
		}
	})
	t.Run("absolute expiry", func(t *testing.T) {
		tok := e.login("admin", strong)
		for range 5 { // used every 25 minutes: never idle, yet it ends at 2h
			e.clock.add(25 * time.Minute)
			me(tok)
		}
		if me(tok) != http.StatusUnauthorized {
			t.Fatal("session accepted after its absolute lifetime")
		}
	})
	t.Run("logout", func(t *testing.T) {
		tok := e.login("admin", strong)
		e.mustCall(http.StatusNoContent, "POST", "/api/v1/auth/logout", tok, "")
		if me(tok) != http.StatusUnauthorized {
			t.Fatal("logged-out session accepted")
		}
	})
	t.Run("shared by replicas and kept across restarts", func(t *testing.T) {
		tok := e.login("admin", strong)
		other := start(t, c, cfg, e.clock) // a second replica on the same Kafka
		testkit.Eventually(t, 10*time.Second, "the session to reach the other replica", func() bool {
			return other.call("GET", "/api/v1/auth/me", tok, "").code == http.StatusOK
		})
		other.mustCall(http.StatusNoContent, "POST", "/api/v1/auth/logout", tok, "")
		testkit.Eventually(t, 10*time.Second, "the logout to reach the first replica", func() bool { return me(tok) == http.StatusUnauthorized })
	})
	t.Run("password change ends every session of the user", func(t *testing.T) {
		a, b := e.login("admin", strong), e.login("admin", strong)
		e.clock.add(time.Second)
		r := e.call("POST", "/api/v1/auth/password", a, `{"current_password":"`+strong+`","new_password":"admin-2024"}`)
		if r.code != http.StatusBadRequest || r.body["error"] != "weak_password" || !strings.Contains(r.raw, "at least 12") {
			t.Fatalf("weak new password: %d %s", r.code, r.raw)
		}
		r = e.call("POST", "/api/v1/auth/password", a, `{"current_password":"`+strong+`","new_password":"my-admin-password-2"}`)
		if r.code != http.StatusBadRequest || !strings.Contains(r.raw, "username") {
			t.Fatalf("password containing the username: %d %s", r.code, r.raw)
		}
		if r := e.call("POST", "/api/v1/auth/password", a, `{"current_password":"wrong-current-pw","new_password":"Quiet-Harbor-77-kite"}`); r.code != http.StatusForbidden {
			t.Fatalf("wrong current password: %d %s", r.code, r.raw)
		}
		e.mustCall(http.StatusNoContent, "POST", "/api/v1/auth/password", a, `{"current_password":"`+strong+`","new_password":"Quiet-Harbor-77-kite"}`)
		if me(a) != http.StatusUnauthorized || me(b) != http.StatusUnauthorized {
			t.Fatal("a session survived the password change")
		}
		if r := e.call("POST", "/api/v1/auth/login", "", `{"username":"admin","password":"`+strong+`"}`); r.code != http.StatusUnauthorized {
			t.Fatalf("old password still works: %d", r.code)
		}
		e.login("admin", "Quiet-Harbor-77-kite")
		testkit.Eventually(t, 10*time.Second, "the sweeper-free view: sessions deleted from the topic", func() bool {
			return len(e.srv.st.sessionsOf("admin")) == 1
		})
	})
}

func TestBootstrapUsesTheStateTopic(t *testing.T) {
	c := newCluster(t)
	e := start(t, c, testConfig(), nil)
	e.login("admin", strong)
	// A replica started without a configured password and with an empty
	// data dir must not invent a new admin password: the topic has one.
	var out bytes.Buffer
	srv := start(t, c, testConfig(), nil).srv
	if err := srv.Bootstrap(t.Context(), t.TempDir(), "", &out); err != nil || out.Len() != 0 {
		t.Fatalf("bootstrap with an admin in the topic: %v, printed %q", err, out.String())
	}
	if err := srv.Bootstrap(t.Context(), t.TempDir(), "password123456", &out); err == nil || !strings.Contains(err.Error(), "commonly used") {
		t.Fatalf("weak configured password: %v", err)
	}
}
