package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Follow reads topic (a compacted topic of current state, such as the
// sources) from its start with its own client built from opts, hands every
// record to apply, sets loaded once it has read up to where the topic ended
// when Follow started, and keeps applying changes until ctx ends.
func Follow(ctx context.Context, opts []kgo.Opt, topic string, apply func(*kgo.Record), loaded *atomic.Bool, log *slog.Logger) error {
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, opts...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(500*time.Millisecond),
	)...)
	if err != nil {
		return fmt.Errorf("client following %s: %w", topic, err)
	}
	defer cl.Close()

	end, err := endOffsets(ctx, cl, topic, log)
	if err != nil {
		return err
	}
	next := map[int32]int64{}
	caughtUp := func() bool {
		for p, e := range end {
			if next[p] < e {
				return false
			}
		}
		return true
	}
	if caughtUp() {
		loaded.Store(true)
	}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		fs.EachError(func(t string, p int32, err error) {
			log.Warn("reading a followed topic", "topic", t, "partition", p, "error", err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			apply(r)
			next[r.Partition] = r.Offset + 1
		})
		if !loaded.Load() && caughtUp() {
			loaded.Store(true)
		}
	}
}

// endOffsets asks where topic ends, retrying until Kafka answers or ctx
// ends.
func endOffsets(ctx context.Context, cl *kgo.Client, topic string, log *slog.Logger) (map[int32]int64, error) {
	adm := kadm.NewClient(cl)
	for wait := 200 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		offs, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = offs.Error()
		}
		if err == nil {
			end := map[int32]int64{}
			offs.Each(func(o kadm.ListedOffset) { end[o.Partition] = o.Offset })
			return end, nil
		}
		log.Warn("end offsets unavailable, retrying", "topic", topic, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil, errors.Join(ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}
