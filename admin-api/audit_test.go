package adminapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Every state-changing request of an authenticated caller leaves one
// audit line (actor, session or token, route, path, client, outcome),
// refused ones included, and no line holds the password sent.
func TestPrivilegedActionsAreAudited(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin", strong)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"bob","role":"viewer","password":"`+strong+`-x"}`)
	e.mustCall(http.StatusConflict, "PATCH", "/api/v1/users/admin", admin, `{"disabled":true}`)
	e.mustCall(http.StatusOK, "PATCH", "/api/v1/users/bob", admin, `{"role":"admin"}`)
	tok := e.mustCall(http.StatusCreated, "POST", "/api/v1/tokens", admin, `{"name":"ci","scope":"admin"}`)
	e.mustCall(http.StatusNoContent, "DELETE", "/api/v1/tokens/"+tok["id"].(string), tok["token"].(string), "")

	type line struct {
		Msg, Actor, Via, Action, Path, Client, Outcome string
	}
	var audits []line
	for _, raw := range strings.Split(e.logs.String(), "\n") {
		var l line
		if json.Unmarshal([]byte(raw), &l) == nil && l.Msg == "admin audit" {
			audits = append(audits, l)
		}
		if strings.Contains(raw, strong) {
			t.Errorf("a log line holds a password: %s", raw)
		}
	}
	want := []line{
		{"admin audit", "admin", "session", "POST /api/v1/users", "/api/v1/users", "127.0.0.1", "ok"},
		{"admin audit", "admin", "session", "PATCH /api/v1/users/{name}", "/api/v1/users/admin", "127.0.0.1", "last_admin"},
		{"admin audit", "admin", "session", "PATCH /api/v1/users/{name}", "/api/v1/users/bob", "127.0.0.1", "ok"},
		{"admin audit", "admin", "session", "POST /api/v1/tokens", "/api/v1/tokens", "127.0.0.1", "ok"},
		{"admin audit", "admin", "token " + tok["id"].(string), "DELETE /api/v1/tokens/{id}", "/api/v1/tokens/" + tok["id"].(string), "127.0.0.1", "ok"},
	}
	if len(audits) != len(want) {
		t.Fatalf("%d audit lines %+v, want %d", len(audits), audits, len(want))
	}
	for i := range want {
		if audits[i] != want[i] {
			t.Errorf("audit line %d: %+v, want %+v", i, audits[i], want[i])
		}
	}
}
