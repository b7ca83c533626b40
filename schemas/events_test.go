package schemas

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestEventSchemas(t *testing.T) {
	all, err := EventSchemas()
	if err != nil {
		t.Fatal(err)
	}
	latest := Latest(all)
	for _, typ := range []string{"page-view", "page", "screen", "identify", "group"} {
		s, ok := latest[typ]
		if !ok || s.Version < 1 || !strings.Contains(s.URL, "/events/"+typ+"/") || len(s.JSON) == 0 {
			t.Errorf("no usable schema for %s: %+v", typ, s)
		}
	}
}

func TestParseEventSchemasRefuses(t *testing.T) {
	good := `{"$schema":"` + Draft202012 + `","type":"object"}`
	for name, files := range map[string]fstest.MapFS{
		"version not a number": {"events/a/one.json": {Data: []byte(good)}},
		"version zero":         {"events/a/0.json": {Data: []byte(good)}},
		"not JSON":             {"events/a/1.json": {Data: []byte(`{`)}},
		"older draft":          {"events/a/1.json": {Data: []byte(`{"$schema":"http://json-schema.org/draft-07/schema#"}`)}},
		"no $schema":           {"events/a/1.json": {Data: []byte(`{"type":"object"}`)}},
	} {
		if _, err := parseEventSchemas(files, "events"); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	all, err := parseEventSchemas(fstest.MapFS{
		"events/a/2.json": {Data: []byte(good)},
		"events/a/1.json": {Data: []byte(good)},
		"events/b/1.json": {Data: []byte(good)},
	}, "events")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].Type != "a" || all[0].Version != 1 || all[1].Version != 2 || all[2].Type != "b" {
		t.Fatalf("parsed %+v, want a/1, a/2, b/1", all)
	}
	if l := Latest(all); l["a"].Version != 2 || l["b"].Version != 1 {
		t.Fatalf("Latest = %+v", l)
	}
}
