package adminapi

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestUsers(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin", strong)
	for _, tc := range []struct{ body, code, msg string }{
		{`{"name":"bob","role":"viewer","password":"short"}`, "weak_password", "at least 12"},
		{`{"name":"bob","role":"viewer","password":"Password123!"}`, "weak_password", "commonly used"},
		{`{"name":"bobby","role":"viewer","password":"hello-bobby-2931"}`, "weak_password", "username"},
		{`{"name":"Bob Smith","role":"viewer","password":"` + strong + `"}`, "invalid_field", "name"},
		{`{"name":"bob","role":"root","password":"` + strong + `"}`, "invalid_field", "role"},
	} {
		r := e.call("POST", "/api/v1/users", admin, tc.body)
		if r.code != http.StatusBadRequest || r.body["error"] != tc.code || !strings.Contains(r.raw, tc.msg) {
			t.Errorf("create %s: %d %s, want 400 %s mentioning %q", tc.body, r.code, r.raw, tc.code, tc.msg)
		}
	}
	u := e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"bob","role":"viewer","password":"`+strong+`"}`)
	if u["role"] != "viewer" || strings.Contains(e.call("GET", "/api/v1/users", admin, "").raw, "argon2id") {
		t.Fatalf("created %v, or a hash is listed", u)
	}
	if r := e.call("POST", "/api/v1/users", admin, `{"name":"bob","role":"viewer","password":"`+strong+`"}`); r.code != http.StatusConflict {
		t.Fatalf("duplicate user: %d", r.code)
	}
	bob := e.login("bob", strong)
	if r := e.call("POST", "/api/v1/sources", bob, `{"name":"x"}`); r.code != http.StatusForbidden {
		t.Fatalf("viewer created a source: %d", r.code)
	}
	e.mustCall(http.StatusOK, "GET", "/api/v1/sources", bob, "")

	// Admin sets bob's password: bob's sessions end, the policy applies.
	if r := e.call("POST", "/api/v1/users/bob/password", admin, `{"password":"bob-password-1"}`); r.code != http.StatusBadRequest {
		t.Fatalf("weak password set by an admin: %d %s", r.code, r.raw)
	}
	e.clock.add(time.Second)
	e.mustCall(http.StatusNoContent, "POST", "/api/v1/users/bob/password", admin, `{"password":"Granite-Meadow-19-vale"}`)
	if r := e.call("GET", "/api/v1/sources", bob, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("session survived an admin password reset: %d", r.code)
	}
	bob = e.login("bob", "Granite-Meadow-19-vale")

	// Promote, then disable: a disabled user cannot log in or use old sessions.
	e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/bob", admin, `{"role":"admin"}`)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/sources", bob, `{"name":"by bob"}`)
	e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/bob", admin, `{"disabled":true}`)
	if r := e.call("GET", "/api/v1/sources", bob, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("disabled user's session: %d", r.code)
	}
	if r := e.call("POST", "/api/v1/auth/login", "", `{"username":"bob","password":"Granite-Meadow-19-vale"}`); r.code != http.StatusUnauthorized || r.body["error"] != "invalid_credentials" {
		t.Fatalf("disabled user logged in: %d %s", r.code, r.raw)
	}
	// The last enabled admin cannot lock everyone out.
	for _, body := range []string{`{"disabled":true}`, `{"role":"viewer"}`} {
		if r := e.call("PATCH", "/api/v1/users/admin", admin, body); r.code != http.StatusConflict || r.body["error"] != "last_admin" {
			t.Fatalf("last admin %s: %d %s", body, r.code, r.raw)
		}
	}
	if r := e.call("PATCH", "/api/v1/users/ghost", admin, `{"disabled":true}`); r.code != http.StatusNotFound {
		t.Fatalf("unknown user: %d", r.code)
	}
}

func TestAPITokens(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin", strong)
	read := e.mustCall(http.StatusCreated, "POST", "/api/v1/tokens", admin, `{"name":"dashboards","scope":"read"}`)
	secret := read["token"].(string)
	if !strings.HasPrefix(secret, apiTokenPrefix) || len(secret) < 40 {
		t.Fatalf("token %q", secret)
	}
	list := e.call("GET", "/api/v1/tokens", admin, "")
	if strings.Contains(list.raw, secret) || strings.Contains(list.raw, digest(secret)) || !strings.Contains(list.raw, read["id"].(string)) {
		t.Fatalf("listing shows the secret or its digest, or misses the token: %s", list.raw)
	}
	e.mustCall(http.StatusOK, "GET", "/api/v1/sources", secret, "")
	if r := e.call("POST", "/api/v1/sources", secret, `{"name":"x"}`); r.code != http.StatusForbidden {
		t.Fatalf("read token wrote: %d", r.code)
	}
	if r := e.call("POST", "/api/v1/auth/logout", secret, ""); r.code != http.StatusBadRequest {
		t.Fatalf("logout with a token: %d", r.code)
	}

	full := e.mustCall(http.StatusCreated, "POST", "/api/v1/tokens", admin, `{"name":"ci","scope":"admin","expires_in":"1h"}`)
	fullSecret := full["token"].(string)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/sources", fullSecret, `{"name":"from ci"}`)
	e.clock.add(61 * time.Minute)
	if r := e.call("GET", "/api/v1/sources", fullSecret, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("expired token: %d", r.code)
	}
	admin = e.login("admin", strong) // the session went idle meanwhile
	e.mustCall(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+read["id"].(string), admin, "")
	if r := e.call("GET", "/api/v1/sources", secret, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", r.code)
	}
	for _, body := range []string{`{"name":"x","scope":"root"}`, `{"name":"","scope":"read"}`, `{"name":"x","scope":"read","expires_in":"-1h"}`} {
		if r := e.call("POST", "/api/v1/tokens", admin, body); r.code != http.StatusBadRequest {
			t.Errorf("%s: %d", body, r.code)
		}
	}
	// A token stops with its owner: a viewer's admin-scoped token cannot
	// exist, and a disabled owner's tokens fail.
	e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"ops","role":"admin","password":"`+strong+`"}`)
	ops := e.login("ops", strong)
	opsToken := e.mustCall(http.StatusCreated, "POST", "/api/v1/tokens", ops, `{"name":"ops","scope":"admin"}`)["token"].(string)
	e.mustCall(http.StatusOK, "GET", "/api/v1/users", opsToken, "")
	e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/ops", admin, `{"role":"viewer"}`)
	if r := e.call("GET", "/api/v1/users", opsToken, ""); r.code != http.StatusForbidden {
		t.Fatalf("admin token of a demoted owner: %d", r.code)
	}
	e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/ops", admin, `{"disabled":true}`)
	if r := e.call("GET", "/api/v1/sources", opsToken, ""); r.code != http.StatusUnauthorized {
		t.Fatalf("token of a disabled owner: %d", r.code)
	}
}
