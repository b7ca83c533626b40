// Package broker runs the embedded Kafka-protocol broker of the all role:
// franz-go's kfake with its log kept under the data dir, listening on a
// loopback port so ordinary Kafka tools (kcat, kafka-console-consumer) can
// look at it. It is a single-node convenience, not a production broker.
package broker

import (
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
}

// Start opens the broker's data under dataDir/kafka and listens on
// 127.0.0.1:port (port 0 picks a free one).
func Start(dataDir string, port int, log *slog.Logger) (*Broker, error) {
	dir := filepath.Join(dataDir, "kafka")
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.DataDir(dir),
		kfake.ClusterID("trackstream-embedded"),
		kfake.WithLogger(kfake.BasicLogger(slogWriter{log}, kfake.LogLevelWarn)),
	}
	if port != 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("start embedded kafka on 127.0.0.1:%d with data in %s: %w (is another trackstream running on this data dir or port?)", port, dir, err)
	}
	return &Broker{cluster: c}, nil
}

// Addrs are the broker's listen addresses (host:port).
func (b *Broker) Addrs() []string { return b.cluster.ListenAddrs() }

// Close stops the broker and flushes its data to disk.
func (b *Broker) Close() { b.cluster.Close() }

// slogWriter turns kfake's log lines into slog records.
type slogWriter struct{ l *slog.Logger }

var _ io.Writer = slogWriter{}

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Warn(strings.TrimSpace(string(p)), "component", "embedded-kafka")
	return len(p), nil
}
