package adminapi

import (
	"net/http"
	"testing"
	"time"
)

// An admin's forced password reset and a disable revoke the user's API
// tokens (re-enabling does not bring them back), and a token made without
// expires_in expires after defaultTokenLifetime.
func TestTokensEndWithAForcedResetOrDisable(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin", strong)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"adm2","role":"admin","password":"`+strong+`-x"}`)
	token := func() string {
		adm2 := e.login("adm2", strong+"-x")
		return e.mustCall(http.StatusCreated, "POST", "/api/v1/tokens", adm2, `{"name":"ci","scope":"read"}`)["token"].(string)
	}
	me := func(tok string) int { return e.call("GET", "/api/v1/auth/me", tok, "").code }

	tok := token()
	if me(tok) != http.StatusOK {
		t.Fatal("fresh token refused")
	}
	e.mustCall(http.StatusNoContent, "POST", "/api/v1/users/adm2/password", admin, `{"password":"Quiet-Harbor-77-kite"}`)
	if code := me(tok); code != http.StatusUnauthorized {
		t.Fatalf("token after the admin reset adm2's password: %d, want 401", code)
	}
	e.mustCall(http.StatusNoContent, "POST", "/api/v1/users/adm2/password", admin, `{"password":"`+strong+`-x"}`)

	tok = token()
	e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/adm2", admin, `{"disabled":true}`)
	e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/adm2", admin, `{"disabled":false}`)
	if code := me(tok); code != http.StatusUnauthorized {
		t.Fatalf("token after adm2 was disabled and enabled again: %d, want 401", code)
	}

	tok = token()
	e.clock.add(defaultTokenLifetime - time.Minute)
	if code := me(tok); code != http.StatusOK {
		t.Fatalf("token just before its default expiry: %d, want 200", code)
	}
	e.clock.add(2 * time.Minute)
	if code := me(tok); code != http.StatusUnauthorized {
		t.Fatalf("token after %s without expires_in: %d, want 401", defaultTokenLifetime, code)
	}
}
