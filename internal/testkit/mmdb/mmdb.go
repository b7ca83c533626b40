// Package mmdb writes small MaxMind-format (.mmdb) databases for tests of
// the GeoIP lookups, in whatever record layout a test needs (MaxMind's
// City layout, ip-location-db's flat country_code).
package mmdb

import (
	"net"
	"os"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// Write writes a database of type dbType holding one record per network
// (CIDR -> record) to path. It writes a temporary file and renames it over
// path, so a reader watching path never sees a half-written database.
// Reserved networks (documentation ranges, for example) are allowed.
func Write(t testing.TB, path, dbType string, records map[string]mmdbtype.Map) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, RecordSize: 24, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatalf("insert %s: %v", cidr, err)
		}
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// Countries is the flat layout of ip-location-db's databases (the
// default database trackstream fetches): country_code at the top.
func Countries(networks map[string]string) map[string]mmdbtype.Map {
	recs := make(map[string]mmdbtype.Map, len(networks))
	for cidr, country := range networks {
		recs[cidr] = mmdbtype.Map{"country_code": mmdbtype.String(country)}
	}
	return recs
}
