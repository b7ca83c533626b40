package config

import (
	"net"
	"os"
	"slices"
)

// Kafka is how every role reaches Kafka.
type Kafka struct {
	// Brokers are the seed brokers (host:port). Required except for the all
	// role, which uses its embedded broker.
	Brokers []string
	// EmbeddedPort is the loopback port of the all role's embedded broker,
	// so ordinary Kafka tools can look at it. Default 19092.
	EmbeddedPort int
	// Partitions of trackstream.events when trackstream creates it. Default 6.
	Partitions int
	// ReplicationFactor of the topics trackstream creates. Default 1 (use 3
	// on a real cluster).
	ReplicationFactor int

	// TLS makes every client speak TLS (1.2 or newer) to the brokers,
	// verified against the system roots or TLSCAFile. Setting TLSCAFile,
	// TLSCertFile or TLSServerName implies it. Default false. The all role
	// ignores every Kafka security setting: its embedded broker has its own
	// generated credentials.
	TLS bool
	// TLSCAFile is a PEM file of the CA certificates that sign the
	// brokers' certificates. Default unset (the system roots).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are a PEM client certificate and its key,
	// for brokers that authenticate clients by certificate (mTLS). Default
	// unset.
	TLSCertFile string
	TLSKeyFile  string
	// TLSServerName is the name the brokers' certificates must carry when
	// it differs from the host of the broker addresses. Default unset.
	TLSServerName string
	// SASLMechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty
	// (default) authenticates without SASL. Use PLAIN only with TLS.
	SASLMechanism string
	// SASLUsername is the SASL user. Required with SASLMechanism.
	SASLUsername string
	// SASLPassword is the SASL password (environment only, never logged).
	// Set it or SASLPasswordFile, not both.
	SASLPassword string
	// SASLPasswordFile is a file holding the SASL password (its text,
	// surrounding white space removed), for secret mounts.
	SASLPasswordFile string
}

// The SASL mechanisms Kafka.SASLMechanism accepts.
const (
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// TLSEnabled reports whether clients speak TLS to the brokers.
func (k Kafka) TLSEnabled() bool {
	return k.TLS || k.TLSCAFile != "" || k.TLSCertFile != "" || k.TLSServerName != ""
}

func defaultKafka() Kafka {
	return Kafka{EmbeddedPort: 19092, Partitions: 6, ReplicationFactor: 1}
}

func (k *Kafka) fields() []field {
	return []field{
		{"kafka-brokers", secKafka, false, "comma-separated Kafka seed brokers (host:port); ignored by the all role", (*listValue)(&k.Brokers)},
		{"kafka-partitions", secKafka, false, "partitions of trackstream.events when trackstream creates it", (*intValue)(&k.Partitions)},
		{"kafka-replication-factor", secKafka, false, "replication factor of the topics trackstream creates", (*intValue)(&k.ReplicationFactor)},
		{"kafka-tls", secKafka, false, "speak TLS 1.2+ to the brokers, verified against the system roots or -kafka-tls-ca-file (implied by the other -kafka-tls-* settings); the all role ignores every Kafka security setting", (*boolValue)(&k.TLS)},
		{"kafka-tls-ca-file", secKafka, false, "PEM file of the CA certificates that sign the brokers' certificates; empty: the system roots", (*stringValue)(&k.TLSCAFile)},
		{"kafka-tls-cert-file", secKafka, false, "PEM client certificate for brokers that authenticate clients by certificate (with -kafka-tls-key-file)", (*stringValue)(&k.TLSCertFile)},
		{"kafka-tls-key-file", secKafka, false, "PEM private key of -kafka-tls-cert-file", (*stringValue)(&k.TLSKeyFile)},
		{"kafka-tls-server-name", secKafka, false, "name the brokers' certificates must carry, when it differs from the broker host", (*stringValue)(&k.TLSServerName)},
		{"kafka-sasl-mechanism", secKafka, false, "SASL mechanism: PLAIN (only with TLS), SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL", (*stringValue)(&k.SASLMechanism)},
		{"kafka-sasl-username", secKafka, false, "SASL user (required with -kafka-sasl-mechanism)", (*stringValue)(&k.SASLUsername)},
		{"kafka-sasl-password", secKafka, true, "SASL password; or set TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE", (*stringValue)(&k.SASLPassword)},
		{"kafka-sasl-password-file", secKafka, false, "file holding the SASL password (white space around it removed)", (*stringValue)(&k.SASLPasswordFile)},
		{"embedded-kafka-port", secEmbedded, false, "loopback port of the embedded Kafka-protocol broker (all role)", (*intValue)(&k.EmbeddedPort)},
	}
}

func (k Kafka) validateEmbedded(errs *[]error) {
	if k.EmbeddedPort < 1 || k.EmbeddedPort > 65535 {
		errorf(errs, "TRACKSTREAM_EMBEDDED_KAFKA_PORT: %d is not a port (1-65535)", k.EmbeddedPort)
	}
}

func (k Kafka) validate(errs *[]error, roles Set) {
	if !roles.Embedded() && len(k.Brokers) == 0 {
		errorf(errs, "TRACKSTREAM_KAFKA_BROKERS: required for the %s role (comma-separated host:port list)", roles)
	}
	for _, b := range k.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errorf(errs, "TRACKSTREAM_KAFKA_BROKERS: %q is not host:port", b)
		}
	}
	checkRange(errs, "TRACKSTREAM_KAFKA_PARTITIONS", k.Partitions, 1, 10_000)
	checkRange(errs, "TRACKSTREAM_KAFKA_REPLICATION_FACTOR", k.ReplicationFactor, 1, 32)
	if !roles.Embedded() {
		k.validateSecurity(errs)
	}
}

// validateSecurity refuses half-made TLS and SASL settings and files the
// process cannot read, so a wrong mount fails the start, not the first
// connection.
func (k Kafka) validateSecurity(errs *[]error) {
	if (k.TLSCertFile == "") != (k.TLSKeyFile == "") {
		errorf(errs, "TRACKSTREAM_KAFKA_TLS_CERT_FILE and TRACKSTREAM_KAFKA_TLS_KEY_FILE: set both or neither")
	}
	checkReadable(errs, "TRACKSTREAM_KAFKA_TLS_CA_FILE", k.TLSCAFile)
	checkReadable(errs, "TRACKSTREAM_KAFKA_TLS_CERT_FILE", k.TLSCertFile)
	checkReadable(errs, "TRACKSTREAM_KAFKA_TLS_KEY_FILE", k.TLSKeyFile)
	if k.SASLMechanism == "" {
		if k.SASLUsername != "" || k.SASLPassword != "" || k.SASLPasswordFile != "" {
			errorf(errs, "TRACKSTREAM_KAFKA_SASL_MECHANISM: required when a SASL user or password is set (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
		}
		return
	}
	if !slices.Contains([]string{SASLPlain, SASLScramSHA256, SASLScramSHA512}, k.SASLMechanism) {
		errorf(errs, "TRACKSTREAM_KAFKA_SASL_MECHANISM: %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASLMechanism)
	}
	if k.SASLUsername == "" {
		errorf(errs, "TRACKSTREAM_KAFKA_SASL_USERNAME: required with TRACKSTREAM_KAFKA_SASL_MECHANISM=%s", k.SASLMechanism)
	}
	switch {
	case k.SASLPassword == "" && k.SASLPasswordFile == "":
		errorf(errs, "TRACKSTREAM_KAFKA_SASL_PASSWORD or TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE: required with TRACKSTREAM_KAFKA_SASL_MECHANISM=%s", k.SASLMechanism)
	case k.SASLPassword != "" && k.SASLPasswordFile != "":
		errorf(errs, "TRACKSTREAM_KAFKA_SASL_PASSWORD and TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE: set one, not both")
	}
	checkReadable(errs, "TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE", k.SASLPasswordFile)
}

// checkReadable reports a file setting whose file the process cannot open.
func checkReadable(errs *[]error, name, path string) {
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		errorf(errs, "%s: %v", name, err)
		return
	}
	f.Close()
}
