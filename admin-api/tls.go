package adminapi

import (
	"crypto/tls"
	"fmt"

	"github.com/trackstream/trackstream/internal/config"
)

// loadTLS returns the listener's TLS configuration (TLS 1.2 or newer, Go's
// default cipher suites, which are all AEAD with forward secrecy for 1.2),
// or nil when no certificate is configured.
func loadTLS(cfg config.Admin) (*tls.Config, error) {
	if cfg.TLSCert == "" && cfg.TLSKey == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("admin TLS: load certificate %s and key %s: %w (check TRACKSTREAM_ADMIN_TLS_CERT and TRACKSTREAM_ADMIN_TLS_KEY: PEM files readable by trackstream)", cfg.TLSCert, cfg.TLSKey, err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}
