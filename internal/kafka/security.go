package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/trackstream/trackstream/internal/config"
)

// Security is how a client protects and authenticates its connections to
// the brokers: TLS, SASL, both or neither (the zero value).
type Security struct {
	// TLS, when set, makes every connection TLS with this configuration.
	TLS *tls.Config
	// SASL, when set, authenticates every connection.
	SASL sasl.Mechanism
	// user and source name the SASL user and where its settings come
	// from, for error messages (never the password).
	user, source string
}

// NewSecurity builds the security of the settings in cfg, reading the CA,
// client certificate and password files now, so an unusable file stops
// the start with the setting to fix.
func NewSecurity(cfg config.Kafka) (Security, error) {
	var sec Security
	if cfg.TLSEnabled() {
		t, err := tlsConfig(cfg)
		if err != nil {
			return Security{}, err
		}
		sec.TLS = t
	}
	if cfg.SASLMechanism == "" {
		return sec, nil
	}
	pass := cfg.SASLPassword
	if cfg.SASLPasswordFile != "" {
		b, err := readSmall(cfg.SASLPasswordFile)
		if err != nil {
			return Security{}, fmt.Errorf("TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE: %w", err)
		}
		if pass = strings.TrimSpace(string(b)); pass == "" {
			return Security{}, fmt.Errorf("TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE: %s is empty", cfg.SASLPasswordFile)
		}
	}
	mech, err := Mechanism(cfg.SASLMechanism, cfg.SASLUsername, pass)
	if err != nil {
		return Security{}, fmt.Errorf("TRACKSTREAM_KAFKA_SASL_MECHANISM: %w", err)
	}
	sec.SASL, sec.user, sec.source = mech, cfg.SASLUsername, "TRACKSTREAM_KAFKA_SASL_USERNAME and TRACKSTREAM_KAFKA_SASL_PASSWORD (or _FILE)"
	return sec, nil
}

// Embedded is the security of the all role's embedded broker: SASL
// SCRAM-SHA-256 as user with password, no TLS (the broker listens on
// loopback only). secretFile names where the password is kept, for error
// messages.
func Embedded(user, password, secretFile string) Security {
	mech, _ := Mechanism(config.SASLScramSHA256, user, password) // a known mechanism: cannot fail
	return Security{SASL: mech, user: user, source: "the embedded broker's secret in " + secretFile}
}

// Mechanism returns the SASL mechanism named name (PLAIN, SCRAM-SHA-256 or
// SCRAM-SHA-512) authenticating user with pass.
func Mechanism(name, user, pass string) (sasl.Mechanism, error) {
	switch name {
	case config.SASLPlain:
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case config.SASLScramSHA256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case config.SASLScramSHA512:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", name)
}

// Opts are the client options of s: TLS and SASL when set.
func (s Security) Opts() []kgo.Opt {
	var opts []kgo.Opt
	if s.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(s.TLS.Clone()))
	}
	if s.SASL != nil {
		opts = append(opts, kgo.SASL(s.SASL))
	}
	return opts
}

// Explain adds to err, when Kafka refused the connection's credentials or
// TLS, which settings to check; other errors come back unchanged.
func (s Security) Explain(err error) error {
	switch refusal(err) {
	case refusedSASL:
		if s.SASL == nil {
			return fmt.Errorf("%w (the broker wants SASL: set TRACKSTREAM_KAFKA_SASL_MECHANISM, _USERNAME and _PASSWORD or _PASSWORD_FILE)", err)
		}
		return fmt.Errorf("kafka refused the SASL %s login of user %q: %w (check %s)", s.SASL.Name(), s.user, err, s.source)
	case refusedACL:
		return fmt.Errorf("kafka user %q lacks an ACL: %w (docs/deploying.md lists the ACLs of each role)", s.user, err)
	case refusedTLS:
		return fmt.Errorf("%w (check TRACKSTREAM_KAFKA_TLS_CA_FILE and TRACKSTREAM_KAFKA_TLS_SERVER_NAME)", err)
	}
	return err
}

// Refused reports whether err is Kafka refusing these credentials or this
// TLS setup, which no retry will change.
func Refused(err error) bool { return refusal(err) != notRefused }

type refusedBy int

const (
	notRefused refusedBy = iota
	refusedSASL
	refusedACL
	refusedTLS
)

func refusal(err error) refusedBy {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var certErr *tls.CertificateVerificationError
	switch {
	case err == nil:
		return notRefused
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return refusedSASL
	case errors.Is(err, kerr.ClusterAuthorizationFailed), errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.GroupAuthorizationFailed):
		return refusedACL
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &certErr):
		return refusedTLS
	}
	return notRefused
}

// tlsConfig builds the client TLS configuration of cfg.
func tlsConfig(cfg config.Kafka) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLSServerName}
	if cfg.TLSCAFile != "" {
		pem, err := readSmall(cfg.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("TRACKSTREAM_KAFKA_TLS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TRACKSTREAM_KAFKA_TLS_CA_FILE: no PEM certificate in %s", cfg.TLSCAFile)
		}
		t.RootCAs = pool
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("TRACKSTREAM_KAFKA_TLS_CERT_FILE and TRACKSTREAM_KAFKA_TLS_KEY_FILE: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

// readSmall reads a settings file of at most 1 MiB.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > 1<<20 {
		return nil, fmt.Errorf("%s is larger than 1 MiB", path)
	}
	return b, nil
}
