// Package config is the typed configuration of every trackstream role: the
// defaults in one place, loading from TRACKSTREAM_* environment variables and
// command-line flags, and validation that reports every problem at once.
//
// Each section (common, Kafka, ClickHouse, ingest, processor, admin) lives in
// its own file with its struct, its defaults, its fields (flag, variable,
// help) and its validation; a role uses only the sections it needs.
package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"
)

// Role names a part of trackstream a process runs.
type Role string

// The roles. RoleAll runs ingest, processor and admin-api in one process
// with an embedded Kafka-protocol broker and embedded ClickHouse.
const (
	RoleAll       Role = "all"
	RoleIngest    Role = "ingest"
	RoleProcessor Role = "processor"
	RoleAdmin     Role = "admin-api"
	// RoleMigrate applies the ClickHouse migrations and exits (a one-shot
	// deployment step); it reads only the common and ClickHouse settings.
	RoleMigrate Role = "migrate"
)

// Roles lists every role in the order the help text shows them.
var Roles = []Role{RoleAll, RoleIngest, RoleProcessor, RoleAdmin, RoleMigrate}

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want one of all, ingest, processor, admin-api, migrate)", s)
}

// Set is the roles one process runs: "all", one role, or several distributed
// roles joined by commas (e.g. "processor,admin-api", which lets processor and
// admin-api share one embedded ClickHouse data path).
type Set []Role

// ParseSet parses a role or a comma-separated list of distributed roles.
func ParseSet(s string) (Set, error) {
	var set Set
	for _, name := range strings.Split(s, ",") {
		r, err := ParseRole(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		if slices.Contains(set, r) {
			return nil, fmt.Errorf("role %s given twice in %q", r, s)
		}
		set = append(set, r)
	}
	if len(set) > 1 && slices.Contains(set, RoleAll) {
		return nil, fmt.Errorf("%q: the all role already runs every role", s)
	}
	if len(set) > 1 && slices.Contains(set, RoleMigrate) {
		return nil, fmt.Errorf("%q: migrate runs alone (processor and admin-api migrate at start anyway)", s)
	}
	return set, nil
}

// Has reports whether the set runs r (all runs ingest, processor and
// admin-api).
func (s Set) Has(r Role) bool {
	return slices.Contains(s, r) || (s.Embedded() && (r == RoleIngest || r == RoleProcessor || r == RoleAdmin))
}

// Embedded reports whether the set is the all role with its embedded broker.
func (s Set) Embedded() bool { return slices.Contains(s, RoleAll) }

func (s Set) String() string {
	names := make([]string, len(s))
	for i, r := range s {
		names[i] = string(r)
	}
	return strings.Join(names, ",")
}

// Config is the whole configuration. A process reads only the sections its
// roles need (see sections); the others keep their defaults and are not
// validated.
type Config struct {
	Common
	Kafka      Kafka
	ClickHouse ClickHouse
	Ingest     Ingest
	Processor  Processor
	Admin      Admin
}

// Default returns the configuration every field starts from.
func Default() Config {
	return Config{
		Common:     defaultCommon(),
		Kafka:      defaultKafka(),
		ClickHouse: defaultClickHouse(),
		Ingest:     defaultIngest(),
		Processor:  defaultProcessor(),
		Admin:      defaultAdmin(),
	}
}

// section is a part of Config a role may use.
type section int

const (
	secCommon section = iota
	secKafka
	secEmbedded
	secClickHouse
	secIngest
	secProcessor
	secAdmin
)

func (s Set) sections() map[section]bool {
	want := map[section]bool{secCommon: true}
	if s.Embedded() {
		want[secEmbedded] = true
	}
	if s.Has(RoleMigrate) {
		want[secClickHouse] = true
		return want // migrate needs no Kafka
	}
	want[secKafka] = true
	if s.Has(RoleIngest) {
		want[secIngest] = true
	}
	if s.Has(RoleProcessor) {
		want[secProcessor] = true
		want[secClickHouse] = true
	}
	if s.Has(RoleAdmin) {
		want[secAdmin] = true
		want[secClickHouse] = true
	}
	return want
}

// Validate checks the sections the roles use and returns every problem
// joined.
func (c Config) Validate(roles Set) error {
	var errs []error
	want := roles.sections()
	if want[secCommon] {
		c.Common.validate(&errs)
	}
	if want[secEmbedded] {
		c.Kafka.validateEmbedded(&errs)
	}
	if want[secKafka] {
		c.Kafka.validate(&errs, roles)
	}
	if want[secClickHouse] {
		c.ClickHouse.validate(&errs)
	}
	if want[secIngest] {
		c.Ingest.validate(&errs)
	}
	if want[secProcessor] {
		c.Processor.validate(&errs)
	}
	if want[secAdmin] {
		c.Admin.validate(&errs)
		c.Admin.validateStateKey(&errs, roles)
	}
	c.checkPortClashes(&errs, want)
	return errors.Join(errs...)
}

// checkPortClashes refuses two listeners of one process on the same port.
func (c Config) checkPortClashes(errs *[]error, want map[section]bool) {
	listeners := [][2]string{{"TRACKSTREAM_OPS_ADDR", c.OpsAddr}}
	if want[secIngest] {
		listeners = append(listeners, [2]string{"TRACKSTREAM_INGEST_ADDR", c.Ingest.Addr})
	}
	if want[secAdmin] {
		listeners = append(listeners, [2]string{"TRACKSTREAM_ADMIN_ADDR", c.Admin.Addr})
	}
	seen := map[string]string{}
	for _, l := range listeners {
		_, port, err := net.SplitHostPort(l[1])
		if err != nil || port == "0" {
			continue
		}
		if other, dup := seen[port]; dup {
			*errs = append(*errs, fmt.Errorf("%s and %s: both use port %s", other, l[0], port))
		}
		seen[port] = l[0]
	}
}

func errorf(errs *[]error, format string, a ...any) {
	*errs = append(*errs, fmt.Errorf(format, a...))
}

func checkAddr(errs *[]error, name, addr string) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		errorf(errs, "%s: %q is not host:port (%v)", name, addr, err)
	}
}

func checkPositive(errs *[]error, name string, d time.Duration) {
	if d <= 0 {
		errorf(errs, "%s: %s must be positive", name, d)
	}
}

func checkRange(errs *[]error, name string, v, lo, hi int) {
	if v < lo || v > hi {
		errorf(errs, "%s: %d is out of range %d-%d", name, v, lo, hi)
	}
}
