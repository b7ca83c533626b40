package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/event"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/testkit"
)

// During a stop the ops listener is the last part standing: once every
// other part has stopped (the processor's final flush among them),
// /readyz still answers 503 and /metrics shows the flushed rows; only
// then does the listener close.
func TestOpsListenerStopsLast(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	// Nothing flushes by age or size: the events wait in the processor's
	// batch for the final flush of the stop.
	cfg.Processor.BatchAge = time.Hour
	n, stop := startAll(t, cfg)
	opsAddr := n.ops.Addr()

	const events = 25
	produceEvents(t, n.kafkaOpts, events)
	testkit.Eventually(t, 30*time.Second, "the processor holding every event", func() bool {
		return metric(t, opsAddr, "trackstream_processor_records_consumed_total") == events
	})
	if got := metric(t, opsAddr, "trackstream_processor_rows_inserted_total"); got != 0 {
		t.Fatalf("%v rows inserted before the stop; the batch should wait for the final flush", got)
	}

	// A step right before the ops listener's (the first registered, so
	// the last to run): every other part has stopped by then.
	var readyCode int
	var readyBody string
	var inserted float64
	n.stops = slices.Insert(n.stops, 1, func(context.Context) error {
		readyCode, readyBody = get(t, "http://"+opsAddr+"/readyz")
		inserted = metric(t, opsAddr, "trackstream_processor_rows_inserted_total")
		return nil
	})
	stop()
	if readyCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the stop: %d %s, want 503", readyCode, readyBody)
	}
	if inserted != events {
		t.Errorf("/metrics during the stop: %v rows inserted, want the final flush's %d", inserted, events)
	}
	if resp, err := http.Get("http://" + opsAddr + "/readyz"); err == nil {
		resp.Body.Close()
		t.Errorf("the ops listener still answers after the stop: %d", resp.StatusCode)
	}
}

// produceEvents writes n events of one source to the events topic, as
// ingest would, with a client of the process's base options.
func produceEvents(t *testing.T, base []kgo.Opt, n int) {
	t.Helper()
	cl, err := kgo.NewClient(append(append([]kgo.Opt{}, base...), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	now := time.Now().UTC()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		e := event.Event{SourceID: "drain", ID: fmt.Sprintf("drain-%d", i), Type: "page-view", Time: now, ReceivedAt: now, ProfileID: "p"}
		v, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = &kgo.Record{Topic: kafka.EventsTopic, Key: e.Key(), Value: v,
			Headers: []kgo.RecordHeader{{Key: event.FormatHeader, Value: []byte(event.FormatVersion)}}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d events: %v", n, err)
	}
}

// get answers a GET's status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
