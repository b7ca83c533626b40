package config

import "time"

// Admin configures the internal admin API.
type Admin struct {
	// Addr is the admin listener. Default 127.0.0.1:8081 (loopback).
	Addr string
	// Password of the admin user. Checked against the password policy at
	// start. When empty, the stored hash is used, or on first start a strong
	// password is generated and printed once. Environment only.
	Password string
	// SessionTTL is the lifetime of a login token. Default 12h.
	SessionTTL time.Duration
}

func defaultAdmin() Admin {
	return Admin{Addr: "127.0.0.1:8081", SessionTTL: 12 * time.Hour}
}

func (c *Admin) fields() []field {
	return []field{
		{"admin-addr", secAdmin, false, "internal admin API listener (keep it off the internet)", (*stringValue)(&c.Addr)},
		{"admin-password", secAdmin, true, "admin password; empty uses the stored hash or generates one on first start", (*stringValue)(&c.Password)},
		{"admin-session-ttl", secAdmin, false, "lifetime of a login token", (*durationValue)(&c.SessionTTL)},
	}
}

func (c Admin) validate(errs *[]error) {
	checkAddr(errs, "TRACKSTREAM_ADMIN_ADDR", c.Addr)
	checkPositive(errs, "TRACKSTREAM_ADMIN_SESSION_TTL", c.SessionTTL)
}
