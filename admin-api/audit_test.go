package adminapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
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

// Admins read the audit entries through the API (security probe F13),
// newest first, a bounded page at a time; viewers may not.
func TestAuditReadableByAdmins(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin", strong)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"carol","role":"viewer","password":"`+strong+`-x"}`)
	e.mustCall(http.StatusConflict, "PATCH", "/api/v1/users/admin", admin, `{"disabled":true}`)
	tok := e.mustCall(http.StatusCreated, "POST", "/api/v1/tokens", admin, `{"name":"ci","scope":"admin"}`)

	type entry struct {
		Seq                                       float64
		Time                                      string
		Actor, Via, Action, Path, Client, Outcome string
	}
	page := func(query string) ([]entry, any) {
		t.Helper()
		r := e.call("GET", "/api/v1/audit"+query, admin, "")
		if r.code != http.StatusOK {
			t.Fatalf("GET /api/v1/audit%s: %d %s", query, r.code, r.raw)
		}
		var body struct {
			Entries    []entry
			NextCursor any `json:"next_cursor"`
		}
		if err := json.Unmarshal([]byte(r.raw), &body); err != nil {
			t.Fatal(err)
		}
		return body.Entries, body.NextCursor
	}
	all, next := page("")
	want := []entry{
		{3, "", "admin", "session", "POST /api/v1/tokens", "/api/v1/tokens", "127.0.0.1", "ok"},
		{2, "", "admin", "session", "PATCH /api/v1/users/{name}", "/api/v1/users/admin", "127.0.0.1", "last_admin"},
		{1, "", "admin", "session", "POST /api/v1/users", "/api/v1/users", "127.0.0.1", "ok"},
	}
	if len(all) != len(want) || next != nil {
		t.Fatalf("entries %+v, next_cursor %v; want %d entries and no next page", all, next, len(want))
	}
	for i := range want {
		if _, err := time.Parse(time.RFC3339Nano, all[i].Time); err != nil {
			t.Errorf("entry %d time %q: %v", i, all[i].Time, err)
		}
		all[i].Time = ""
		if all[i] != want[i] {
			t.Errorf("entry %d: %+v, want %+v", i, all[i], want[i])
		}
	}
	first, next := page("?limit=2")
	if len(first) != 2 || first[0].Seq != 3 || next != "2" {
		t.Fatalf("first page %+v, next_cursor %v; want seq 3, 2 and cursor 2", first, next)
	}
	rest, next := page("?limit=2&cursor=2")
	if len(rest) != 1 || rest[0].Seq != 1 || next != nil {
		t.Fatalf("second page %+v, next_cursor %v; want seq 1 and no next page", rest, next)
	}
	for _, q := range []string{"?limit=0", "?limit=501", "?cursor=x", "?cursor=0"} {
		if r := e.call("GET", "/api/v1/audit"+q, admin, ""); r.code != http.StatusBadRequest || r.body["error"] != "invalid_parameter" {
			t.Errorf("GET /api/v1/audit%s: %d %s, want 400 invalid_parameter", q, r.code, r.raw)
		}
	}
	viewer := e.login("carol", strong+"-x")
	if r := e.call("GET", "/api/v1/audit", viewer, ""); r.code != http.StatusForbidden {
		t.Errorf("a viewer read the audit entries: %d %s", r.code, r.raw)
	}
	if r := e.call("GET", "/api/v1/audit", tok["token"].(string), ""); r.code != http.StatusOK {
		t.Errorf("an admin token could not read the audit entries: %d %s", r.code, r.raw)
	}
}

// The ring keeps only its newest entries, pages across its wrap, and
// bounds what it keeps of a long path.
func TestAuditRingBounded(t *testing.T) {
	a := newAuditRing(3)
	if got, more := a.page(0, 10); len(got) != 0 || more {
		t.Fatalf("empty ring: %+v %v", got, more)
	}
	for i := range 5 {
		a.add(auditEntry{Actor: string(rune('a' + i)), Path: strings.Repeat("p", auditPathBytes*4)})
	}
	got, more := a.page(0, 2)
	if len(got) != 2 || got[0].Seq != 5 || got[0].Actor != "e" || got[1].Seq != 4 || !more {
		t.Fatalf("newest page %+v more %v; want seq 5, 4 and more", got, more)
	}
	if len(got[0].Path) > auditPathBytes+3 {
		t.Errorf("kept a %d-byte path", len(got[0].Path))
	}
	got, more = a.page(4, 10)
	if len(got) != 1 || got[0].Seq != 3 || got[0].Actor != "c" || more {
		t.Fatalf("page before 4: %+v more %v; want only seq 3 (1 and 2 are gone)", got, more)
	}
	if got, more = a.page(99, 1); len(got) != 1 || got[0].Seq != 5 || !more {
		t.Fatalf("a cursor from before a restart: %+v %v; want the newest entry", got, more)
	}
}
