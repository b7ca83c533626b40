package adminapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/trackstream/trackstream/internal/sources"
)

func TestSources(t *testing.T) {
	e := newEnv(t)
	admin := e.login("admin", strong)

	// The walking skeleton's contract: {"name"} makes an enabled browser source.
	b := e.mustCall(http.StatusCreated, "POST", "/api/v1/sources", admin, `{"name":"shop"}`)
	id := b["id"].(string)
	if !strings.HasPrefix(id, "src_") || b["enabled"] != true || b["kind"] != "browser" || b["write_key"] != nil {
		t.Fatalf("browser source: %v", b)
	}
	if src, ok := e.reg.Get(id); !ok || src.Name != "shop" {
		t.Fatal("the answer came before this replica's registry had the source")
	}

	srv := e.mustCall(http.StatusCreated, "POST", "/api/v1/sources", admin, `{"name":"backend","kind":"server","ip_policy":"drop","rate_limit":50}`)
	key := srv["write_key"].(string)
	if key == "" || srv["ip_policy"] != "drop" || srv["rate_limit"] != float64(50) {
		t.Fatalf("server source: %v", srv)
	}
	if got, ok := e.reg.ByWriteKey(key); !ok || got.ID != srv["id"] {
		t.Fatal("the write key does not name the source in the registry ingest follows")
	}
	list := e.call("GET", "/api/v1/sources", admin, "")
	if strings.Contains(list.raw, key) || strings.Contains(list.raw, sources.HashWriteKey(key)) || len(list.body["sources"].([]any)) != 2 {
		t.Fatalf("listing shows the key or its hash, or misses sources: %s", list.raw)
	}
	if g := e.mustCall(http.StatusOK, "GET", "/api/v1/sources/"+srv["id"].(string), admin, ""); g["write_key"] != nil || g["kind"] != "server" {
		t.Fatalf("get: %v", g)
	}

	for _, body := range []string{
		`{"name":""}`, `{"ip_policy":"publish"}`, `{"unknown_event_types":"maybe"}`, `{"rate_limit":-1}`,
		`{"allowed_origins":["javascript:alert(1)"]}`, `{"enabled":"yes"}`, `{"write_key_hash":"00"}`,
	} {
		if r := e.call("PATCH", "/api/v1/sources/"+id, admin, body); r.code != http.StatusBadRequest {
			t.Errorf("update %s: %d %s, want 400", body, r.code, r.raw)
		}
	}
	u := e.mustCall(http.StatusOK, "PATCH", "/api/v1/sources/"+id, admin,
		`{"name":"shop eu","allowed_origins":["https://shop.example.eu"],"unknown_event_types":"reject","ip_policy":"keep","rate_limit":10}`)
	got, _ := e.reg.Get(id)
	if u["name"] != "shop eu" || got.Name != "shop eu" || !got.RejectsUnknownTypes() || got.IPPolicy != sources.IPKeep || got.RateLimit != 10 ||
		!got.OriginAllowed("https://shop.example.eu") || got.OriginAllowed("https://evil.example") || !got.Enabled {
		t.Fatalf("update not applied: %v / %+v", u, got)
	}

	rot := e.mustCall(http.StatusOK, "POST", "/api/v1/sources/"+srv["id"].(string)+"/rotate-key", admin, "")
	newKey := rot["write_key"].(string)
	if _, ok := e.reg.ByWriteKey(key); ok || newKey == key {
		t.Fatal("the old write key still works after rotation")
	}
	if _, ok := e.reg.ByWriteKey(newKey); !ok {
		t.Fatal("the new write key does not work")
	}
	if r := e.call("POST", "/api/v1/sources/"+id+"/rotate-key", admin, ""); r.code != http.StatusConflict {
		t.Fatalf("rotate a browser source: %d", r.code)
	}

	e.mustCall(http.StatusOK, "POST", "/api/v1/sources/"+id+"/disable", admin, "")
	if got, _ := e.reg.Get(id); got.Enabled {
		t.Fatal("disabled source still enabled in the registry")
	}
	if r := e.call("POST", "/api/v1/sources/src_nope/disable", admin, ""); r.code != http.StatusNotFound {
		t.Fatalf("unknown source: %d", r.code)
	}
	big := `{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`
	if r := e.call("POST", "/api/v1/sources", admin, big); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d", r.code)
	}
}

func TestSchemasAndCount(t *testing.T) {
	e := newEnv(t)
	tok := e.login("admin", strong)
	list := e.mustCall(http.StatusOK, "GET", "/api/v1/schemas", tok, "")
	types := map[string]bool{}
	for _, s := range list["event_types"].([]any) {
		types[s.(map[string]any)["type"].(string)] = true
	}
	if !types["page-view"] {
		t.Fatalf("page-view missing from %v", list)
	}
	one := e.mustCall(http.StatusOK, "GET", "/api/v1/schemas/page-view", tok, "")
	if schema, ok := one["schema"].(map[string]any); !ok || schema["$schema"] == nil {
		t.Fatalf("schema: %v", one)
	}
	if r := e.call("GET", "/api/v1/schemas/no-such-type", tok, ""); r.code != http.StatusNotFound {
		t.Fatalf("unknown type: %d", r.code)
	}
	if r := e.call("GET", "/api/v1/schemas/page-view?version=99", tok, ""); r.code != http.StatusNotFound {
		t.Fatalf("unknown version: %d", r.code)
	}
	c := e.mustCall(http.StatusOK, "GET", "/api/v1/events/count?source=abcd", tok, "")
	if c["count"] != float64(4) || c["source"] != "abcd" {
		t.Fatalf("count: %v", c)
	}
	if r := e.call("GET", "/api/v1/events/count", tok, ""); r.code != http.StatusBadRequest || r.body["error"] != "missing_parameter" {
		t.Fatalf("count without source: %d %s", r.code, r.raw)
	}
}
