package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/testkit"
)

// roundTrip creates the topics, produces one record and reads it back
// with clients built from ClientOpts and sec.
func roundTrip(ctx context.Context, addrs []string, sec Security) error {
	cl, err := kgo.NewClient(append(append(ClientOpts(addrs, quiet), sec.Opts()...), kgo.ConsumeTopics(DLQTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := EnsureTopics(ctx, cl, 1, Topics(1)); err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: DLQTopic, Value: []byte("hello")}).FirstErr(); err != nil {
		return err
	}
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return err
		}
		if fs.NumRecords() > 0 {
			return nil
		}
	}
	return ctx.Err()
}

// Every SASL mechanism the settings offer works with the right password,
// and a wrong one fails fast with an error naming the settings to check.
func TestSASLMechanismsAgainstKfake(t *testing.T) {
	for _, mech := range []string{config.SASLPlain, config.SASLScramSHA256, config.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "svc", "right-password"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			pwFile := filepath.Join(t.TempDir(), "pw")
			os.WriteFile(pwFile, []byte("right-password\n"), 0o600)
			good, err := NewSecurity(config.Kafka{SASLMechanism: mech, SASLUsername: "svc", SASLPasswordFile: pwFile})
			if err != nil {
				t.Fatal(err)
			}
			if err := roundTrip(ctx, c.ListenAddrs(), good); err != nil {
				t.Fatalf("right credentials: %v", err)
			}
			// kfake closes the connection on a wrong password where Apache
			// Kafka answers SaslAuthenticationFailed (its test in
			// e2e/kafka_sasl_test.go checks the error message).
			bad, err := NewSecurity(config.Kafka{SASLMechanism: mech, SASLUsername: "svc", SASLPassword: "wrong-password"})
			if err != nil {
				t.Fatal(err)
			}
			if err := ping(ctx, c.ListenAddrs(), bad); err == nil {
				t.Fatal("a wrong password was accepted")
			}
			if err := ping(ctx, c.ListenAddrs(), Security{}); err == nil {
				t.Fatal("a client without SASL was served")
			}
		})
	}
}

func ping(ctx context.Context, addrs []string, sec Security) error {
	cl, err := kgo.NewClient(append(ClientOpts(addrs, quiet), sec.Opts()...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Ping(ctx)
}

// A refusal names the user and the settings to check, never the password.
func TestExplainRefusals(t *testing.T) {
	sec, err := NewSecurity(config.Kafka{SASLMechanism: config.SASLScramSHA512, SASLUsername: "svc", SASLPassword: "hunter2-secret"})
	if err != nil {
		t.Fatal(err)
	}
	refused := fmt.Errorf("create topic: %w", kerr.SaslAuthenticationFailed)
	msg := sec.Explain(refused).Error()
	if !Refused(refused) || !strings.Contains(msg, `SCRAM-SHA-512 login of user "svc"`) || !strings.Contains(msg, "TRACKSTREAM_KAFKA_SASL_PASSWORD") || strings.Contains(msg, "hunter2") {
		t.Fatalf("explained refusal: %q", msg)
	}
	if msg := (Security{}).Explain(refused).Error(); !strings.Contains(msg, "the broker wants SASL") {
		t.Fatalf("refusal of a client without SASL: %q", msg)
	}
	acl := fmt.Errorf("create topic: %w", kerr.TopicAuthorizationFailed)
	if msg := sec.Explain(acl).Error(); !Refused(acl) || !strings.Contains(msg, "lacks an ACL") {
		t.Fatalf("ACL refusal: %q", msg)
	}
	other := errors.New("dial tcp: connection refused")
	if Refused(other) || sec.Explain(other) != other {
		t.Fatal("an unrelated error was taken for a refusal")
	}
}

// TLS settings verify the broker against the configured CA; a client
// trusting other roots is refused with the settings to check.
func TestTLSAgainstKfake(t *testing.T) {
	certs := testkit.WriteCerts(t, t.TempDir())
	pair, err := tls.LoadX509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	good, err := NewSecurity(config.Kafka{TLSCAFile: certs.CA})
	if err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(ctx, c.ListenAddrs(), good); err != nil {
		t.Fatalf("TLS with the right CA: %v", err)
	}
	systemRoots, _ := NewSecurity(config.Kafka{TLS: true})
	err = ping(ctx, c.ListenAddrs(), systemRoots)
	if !Refused(err) || !strings.Contains(systemRoots.Explain(err).Error(), "TRACKSTREAM_KAFKA_TLS_CA_FILE") {
		t.Fatalf("TLS against an unknown CA: %v", err)
	}
	if _, err := NewSecurity(config.Kafka{TLSCAFile: certs.Key}); err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_KAFKA_TLS_CA_FILE: no PEM certificate") {
		t.Fatalf("a CA file without a certificate: %v", err)
	}
}
