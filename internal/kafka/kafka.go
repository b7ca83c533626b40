// Package kafka holds what every trackstream role shares about Kafka: the
// topic names and their settings, idempotent topic creation, and the base
// franz-go client options (seed brokers, logging through slog, TLS and
// SASL).
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The topics trackstream uses.
const (
	// EventsTopic carries normalised events from ingest to the processors.
	EventsTopic = "trackstream.events"
	// SourcesTopic is the compacted topic of source configurations, keyed by
	// source id, written by admin-api and followed by every ingest replica.
	SourcesTopic = "trackstream.sources"
	// DLQTopic parks records the processor can never store.
	DLQTopic = "trackstream.events.dlq"
)

// Topic is a topic trackstream creates when it is missing.
type Topic struct {
	Name       string
	Partitions int32
	Configs    map[string]*string
}

// Topics returns the topics trackstream needs, with events partitions as
// given. The sources topic is compacted and has one partition so every
// reader sees every change in order.
func Topics(eventsPartitions int32) []Topic {
	compact := "compact"
	week := "604800000"
	return []Topic{
		{Name: EventsTopic, Partitions: eventsPartitions, Configs: map[string]*string{"retention.ms": &week}},
		{Name: SourcesTopic, Partitions: 1, Configs: map[string]*string{"cleanup.policy": &compact}},
		{Name: DLQTopic, Partitions: 1, Configs: map[string]*string{"retention.ms": &week}},
	}
}

// EnsureTopics creates each missing topic; topics that exist are left as
// they are. A principal without the Create ACL passes when the topics
// exist already (made by the topic step).
func EnsureTopics(ctx context.Context, cl *kgo.Client, replication int16, topics []Topic) error {
	adm := kadm.NewClient(cl)
	for _, t := range topics {
		resp, err := adm.CreateTopic(ctx, t.Partitions, replication, t.Configs, t.Name)
		if err == nil {
			err = resp.Err
		}
		if errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed) {
			if d, lerr := adm.ListTopics(ctx, t.Name); lerr == nil && d[t.Name].Err == nil && len(d[t.Name].Partitions) > 0 {
				continue
			}
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s (%d partitions, replication %d): %w", t.Name, t.Partitions, replication, err)
		}
	}
	return nil
}

// ClientOpts are the options every trackstream Kafka client starts from:
// the seed brokers, logging and timeouts. A process adds its Security's
// Opts.
func ClientOpts(brokers []string, log *slog.Logger) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.WithLogger(slogLogger{log}),
		kgo.DialTimeout(5 * time.Second),
		kgo.RequestTimeoutOverhead(5 * time.Second),
		kgo.MetadataMinAge(time.Second),
	}
}

// Ping checks that the cluster answers a metadata request.
func Ping(ctx context.Context, cl *kgo.Client) error {
	if err := cl.Ping(ctx); err != nil {
		return fmt.Errorf("kafka unreachable: %w", err)
	}
	return nil
}

// slogLogger adapts slog to franz-go's logger; franz-go's info level is
// chatty, so it logs at warn and above.
type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (s slogLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	lv := slog.LevelInfo
	switch level {
	case kgo.LogLevelError:
		lv = slog.LevelError
	case kgo.LogLevelWarn:
		lv = slog.LevelWarn
	case kgo.LogLevelDebug:
		lv = slog.LevelDebug
	}
	s.l.Log(context.Background(), lv, msg, append([]any{"component", "kafka-client"}, keyvals...)...)
}
