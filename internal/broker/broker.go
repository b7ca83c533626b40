// Package broker runs the embedded Kafka-protocol broker of the all role:
// franz-go's kfake with its log kept under the data dir, listening on a
// loopback port so ordinary Kafka tools (kcat, kafka-console-consumer) can
// look at it. Clients must authenticate with SASL SCRAM-SHA-256 as user
// trackstream with the secret generated on first start into the data dir
// (SecretFile). It is a single-node convenience, not a production broker.
package broker

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/secretfile"
)

// User is the SASL user of the embedded broker.
const User = "trackstream"

// SecretFileName is the file in the data dir holding the SASL password of
// the embedded broker (0600, created on first start).
const SecretFileName = "embedded-kafka.secret"

// SecretFile is the path of the embedded broker's SASL password in dataDir.
func SecretFile(dataDir string) string { return filepath.Join(dataDir, SecretFileName) }

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	sec     kafka.Security
}

// Start opens the broker's data under dataDir/kafka and listens on
// 127.0.0.1:port (port 0 picks a free one), accepting only clients that
// log in with the secret in SecretFile(dataDir), which it creates when
// missing.
func Start(dataDir string, port int, log *slog.Logger) (*Broker, error) {
	secretPath := SecretFile(dataDir)
	secret, created, err := secretfile.LoadOrCreate(secretPath)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka SASL secret: %w", err)
	}
	if created {
		log.Info("generated the embedded Kafka broker's SASL secret; Kafka tools log in with SCRAM-SHA-256 as this user and secret", "user", User, "secret_file", secretPath)
	}
	dir := filepath.Join(dataDir, "kafka")
	// kfake restores the SASL users it saved over the configured ones: an
	// older data dir (saved without SASL) would lock every client out, and
	// users added through the Kafka API would outlive a changed secret.
	// Without the saved file the secret file alone decides who logs in.
	if err := os.Remove(filepath.Join(dir, "sasl.json")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reset the embedded kafka's saved SASL users: %w", err)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DataDir(dir),
		kfake.ClusterID("trackstream-embedded"),
		kfake.EnableSASL(),
		kfake.Superuser(config.SASLScramSHA256, User, string(secret)),
		kfake.WithLogger(kfake.BasicLogger(slogWriter{log}, kfake.LogLevelWarn)),
	}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka on 127.0.0.1:%d with data in %s: %w (is another trackstream running on this data dir or port?)", port, dir, err)
	}
	return &Broker{cluster: c, sec: kafka.Embedded(User, string(secret), secretPath)}, nil
}

// Addrs are the broker's listen addresses (host:port).
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Security is what a client needs to log in to the broker.
func (b *Broker) Security() kafka.Security { return b.sec }

// Close stops the broker and flushes its data to disk.
func (b *Broker) Close() { b.cluster.Close() }

// slogWriter turns kfake's log lines into slog records.
type slogWriter struct{ l *slog.Logger }

var _ io.Writer = slogWriter{}

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)), "component", "embedded-kafka")
	return len(p), nil
}
