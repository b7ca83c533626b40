package enrich

import (
	"fmt"
	"net/netip"

	"github.com/oschwald/maxminddb-golang/v2"
)

// GeoIP looks addresses up in a MaxMind-format database (GeoLite2-City,
// GeoIP2-City, or any .mmdb with the same record layout). It is safe for
// concurrent use.
type GeoIP struct {
	db *maxminddb.Reader
}

// Geo is what a lookup found; empty fields are unknown.
type Geo struct {
	// Country is the ISO 3166-1 alpha-2 code, e.g. "DE".
	Country string
	// Region is the ISO 3166-2 subdivision code of the first
	// subdivision, e.g. "BE".
	Region string
	// City is the English city name.
	City string
}

// OpenGeoIP opens the database file at path.
func OpenGeoIP(path string) (*GeoIP, error) {
	db, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open GeoIP database %s (a MaxMind .mmdb file, e.g. GeoLite2-City.mmdb): %w", path, err)
	}
	return &GeoIP{db: db}, nil
}

// Close releases the database.
func (g *GeoIP) Close() error { return g.db.Close() }

type cityRecord struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	Subdivisions []struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"subdivisions"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
}

// Lookup finds ip (an IPv4 or IPv6 address, possibly truncated by the IP
// policy). An unparseable or unknown address gives the zero Geo.
func (g *GeoIP) Lookup(ip string) Geo {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return Geo{}
	}
	var rec cityRecord
	if err := g.db.Lookup(addr.Unmap()).Decode(&rec); err != nil {
		return Geo{}
	}
	geo := Geo{Country: rec.Country.ISOCode, City: rec.City.Names["en"]}
	if len(rec.Subdivisions) > 0 {
		geo.Region = rec.Subdivisions[0].ISOCode
	}
	return geo
}
