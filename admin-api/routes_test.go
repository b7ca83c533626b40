package adminapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// concrete fills a route's path wildcards with harmless values.
func concrete(path string) string {
	return regexp.MustCompile(`\{[a-z]+\}`).ReplaceAllStringFunc(path, func(w string) string {
		switch w {
		case "{partition}", "{offset}":
			return "0"
		}
		return "x"
	})
}

// TestEveryRouteEnforcesItsRole calls every route as an anonymous caller, a
// forged token, a viewer (session and read-scoped API token) and an admin,
// and checks each is refused exactly where its role says.
func TestEveryRouteEnforcesItsRole(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin", strong)
	e.mustCall(http.StatusCreated, "POST", "/api/v1/users", admin, `{"name":"vera","role":"viewer","password":"`+strong+`-v"}`)
	viewer := e.login("vera", strong+"-v")
	readToken := e.mustCall(http.StatusCreated, "POST", "/api/v1/tokens", admin, `{"name":"ci","scope":"read"}`)["token"].(string)

	routes := e.srv.routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes enumerated", len(routes))
	}
	for _, rt := range routes {
		if rt.role == "" && !slices.Contains([]string{"GET /api/v1/openapi.json", "POST /api/v1/auth/login"}, rt.pattern()) {
			t.Errorf("%s is public; only login and the OpenAPI document may be", rt.pattern())
		}
		path := concrete(rt.path)
		// Bodies that would change state are invalid, so an allowed call
		// fails validation instead of changing anything.
		body := `{"unknown_field":1}`
		anon := e.call(rt.method, path, "", body)
		forged := e.call(rt.method, path, "forged-token", body)
		v := e.call(rt.method, path, viewer, body)
		vt := e.call(rt.method, path, readToken, body)
		a := e.call(rt.method, path, admin, body)
		switch rt.role {
		case "":
			if anon.code == http.StatusUnauthorized || anon.code == http.StatusForbidden {
				t.Errorf("%s is public but refused an anonymous caller: %d", rt.pattern(), anon.code)
			}
		default:
			for name, r := range map[string]response{"anonymous": anon, "forged token": forged} {
				if r.code != http.StatusUnauthorized || r.body["error"] != "unauthorized" {
					t.Errorf("%s as %s: %d %s, want 401 unauthorized", rt.pattern(), name, r.code, r.raw)
				}
			}
			for name, r := range map[string]response{"viewer": v, "read token": vt} {
				refused := r.code == http.StatusForbidden && r.body["error"] == "forbidden"
				if rt.role == RoleAdmin && !refused {
					t.Errorf("%s as %s: %d %s, want 403 forbidden", rt.pattern(), name, r.code, r.raw)
				}
				if rt.role == RoleViewer && (r.code == http.StatusUnauthorized || refused) {
					t.Errorf("%s as %s: refused with %d", rt.pattern(), name, r.code)
				}
			}
			if a.code == http.StatusUnauthorized || (a.code == http.StatusForbidden && a.body["error"] == "forbidden") {
				t.Errorf("%s as admin: refused with %d", rt.pattern(), a.code)
			}
		}
		if rt.path == "/api/v1/auth/logout" { // it worked: log in again
			admin, viewer = e.login("admin", strong), e.login("vera", strong+"-v")
		}
	}
	// Nothing changed: the viewer and admin sessions still work.
	e.mustCall(http.StatusOK, "GET", "/api/v1/auth/me", viewer, "")
	e.mustCall(http.StatusOK, "GET", "/api/v1/auth/me", admin, "")
}

func TestUnknownPathIsJSON404(t *testing.T) {
	e := newEnv(t)
	r := e.call("GET", "/api/v1/nothing-here", "", "")
	if r.code != http.StatusNotFound || r.body["error"] != "not_found" {
		t.Fatalf("got %d %s", r.code, r.raw)
	}
}

// TestOpenAPIMatchesRoutes fails when a route is missing from openapi.json,
// the document lists an operation no route serves, or they disagree on the
// role an operation needs.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.call("GET", "/api/v1/openapi.json", "", "")
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET openapi.json: %d %s", r.code, r.header.Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.raw), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]string{} // "METHOD path" -> role
	for path, ops := range doc.Paths {
		for method, raw := range ops {
			var op struct {
				Role     string `json:"x-required-role"`
				Security *[]any `json:"security"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if (op.Role == "public") != (op.Security != nil && len(*op.Security) == 0) {
				t.Errorf("%s %s: x-required-role %q but security %v", method, path, op.Role, op.Security)
			}
			documented[strings.ToUpper(method)+" "+path] = op.Role
		}
	}
	served := map[string]bool{}
	for _, rt := range e.srv.routes() {
		served[rt.pattern()] = true
		want := string(rt.role)
		if want == "" {
			want = "public"
		}
		role, ok := documented[rt.pattern()]
		switch {
		case !ok:
			t.Errorf("route %s is not in openapi.json", rt.pattern())
		case role != want:
			t.Errorf("%s: openapi.json says role %q, the route needs %q", rt.pattern(), role, want)
		}
	}
	for op := range documented {
		if !served[op] {
			t.Errorf("openapi.json documents %s, which no route serves", op)
		}
	}
}
