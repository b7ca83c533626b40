package processor

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
)

// Dead-letter record format. A dead letter is the original record (same
// key, value and headers) produced to kafka.DLQTopic with these headers
// added; admin-api lists and replays them.
const (
	// HeaderReason is the human-readable reason (the error text, at most
	// maxReasonBytes).
	HeaderReason = "trackstream-dlq-reason"
	// HeaderReasonCode is one of the Reason* codes: a bounded set, used
	// as the metric label.
	HeaderReasonCode = "trackstream-dlq-reason-code"
	// HeaderTopic, HeaderPartition and HeaderOffset are where the record
	// was consumed from (partition and offset in decimal).
	HeaderTopic     = "trackstream-dlq-topic"
	HeaderPartition = "trackstream-dlq-partition"
	HeaderOffset    = "trackstream-dlq-offset"
	// HeaderTime is when the record was parked, RFC 3339 with
	// milliseconds, UTC.
	HeaderTime = "trackstream-dlq-time"
)

// Reason codes of dead letters.
const (
	// ReasonUndecodable: the value is not an event record (bad JSON,
	// missing source_id, id or type).
	ReasonUndecodable = "undecodable"
	// ReasonUnknownFormat: the record's format version header is one
	// this build does not know.
	ReasonUnknownFormat = "unknown_format"
	// ReasonRejected: ClickHouse refused the row (e.g. properties that
	// are not a JSON object, a value out of a column's range).
	ReasonRejected = "rejected_by_clickhouse"
	// ReasonUnisolated: the record was in a part of its batch that
	// ClickHouse refused after the batch's budget of splits was spent
	// (see maxRejectedSplits); it may be fine and can be replayed.
	ReasonUnisolated = "rejected_unisolated"
)

// Reasons lists every reason code.
var Reasons = []string{ReasonUndecodable, ReasonUnknownFormat, ReasonRejected, ReasonUnisolated}

// maxReasonBytes bounds the reason header.
const maxReasonBytes = 1024

func reasonFor(err error) string {
	if errors.Is(err, event.ErrUndecodable) && strings.Contains(err.Error(), "unknown format version") {
		return ReasonUnknownFormat
	}
	return ReasonUndecodable
}

// deadLetter is r as a DLQ record with the reason and origin in headers.
func deadLetter(r *kgo.Record, code string, reason error) *kgo.Record {
	text := reason.Error()
	if len(text) > maxReasonBytes {
		text = strings.ToValidUTF8(text[:maxReasonBytes], "")
	}
	return &kgo.Record{
		Topic: kafka.DLQTopic,
		Key:   r.Key,
		Value: r.Value,
		Headers: append(append([]kgo.RecordHeader{}, r.Headers...),
			kgo.RecordHeader{Key: HeaderReason, Value: []byte(text)},
			kgo.RecordHeader{Key: HeaderReasonCode, Value: []byte(code)},
			kgo.RecordHeader{Key: HeaderTopic, Value: []byte(r.Topic)},
			kgo.RecordHeader{Key: HeaderPartition, Value: []byte(strconv.Itoa(int(r.Partition)))},
			kgo.RecordHeader{Key: HeaderOffset, Value: []byte(strconv.FormatInt(r.Offset, 10))},
			kgo.RecordHeader{Key: HeaderTime, Value: []byte(time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"))},
		),
	}
}

// park produces dead letters to the DLQ topic, retrying until Kafka takes
// them or ctx ends.
func (w *worker) park(ctx context.Context, dead []*kgo.Record) error {
	for wait := firstBackoff; ; wait = min(2*wait, w.p.cfg.InsertBackoffMax) {
		err := w.cl.ProduceSync(ctx, dead...).FirstErr()
		if err == nil {
			for _, r := range dead {
				w.p.m.deadLetters.WithLabelValues(header(r, HeaderReasonCode)).Inc()
			}
			return nil
		}
		w.log.Error("dead-letter produce failed; retrying", "records", len(dead), "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
