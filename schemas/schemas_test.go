package schemas

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestEmbeddedMigrationsParse(t *testing.T) {
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Version != 1 {
		t.Fatalf("want migrations starting at version 1, got %+v", ms)
	}
	for i := 1; i < len(ms); i++ {
		if ms[i].Version <= ms[i-1].Version {
			t.Fatalf("migrations out of order: %d after %d", ms[i].Version, ms[i-1].Version)
		}
	}
	for _, m := range ms {
		for _, s := range m.Statements {
			if !strings.Contains(s, Database+".") {
				t.Errorf("migration %d statement does not name the %s database: %.60s", m.Version, Database, s)
			}
		}
	}
}

func TestParseRefusesBadNames(t *testing.T) {
	for name, file := range map[string]string{
		"no version":    "events.sql",
		"zero version":  "0000_events.sql",
		"no name":       "0001.sql",
		"letters first": "abc_events.sql",
	} {
		fsys := fstest.MapFS{"m/" + file: {Data: []byte("SELECT 1;")}}
		if _, err := parse(fsys, "m"); err == nil {
			t.Errorf("%s: %s accepted", name, file)
		}
	}
	dup := fstest.MapFS{"m/0001_a.sql": {Data: []byte("SELECT 1;")}, "m/0001_b.sql": {Data: []byte("SELECT 2;")}}
	if _, err := parse(dup, "m"); err == nil || !strings.Contains(err.Error(), "share version 1") {
		t.Errorf("duplicate versions: got %v", err)
	}
}

func TestSplitStatements(t *testing.T) {
	got := splitStatements("-- comment\nCREATE TABLE a\n(x UInt8);\n\nINSERT INTO a VALUES (1);\nSELECT 1")
	want := []string{"CREATE TABLE a\n(x UInt8)", "INSERT INTO a VALUES (1)", "SELECT 1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}
