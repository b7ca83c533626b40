package broker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/kafka"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The embedded broker keeps acknowledged records across a restart on the
// same data dir.
func TestRecordsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	b, err := Start(dir, 0, quiet)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(append(kafka.ClientOpts(b.Addrs(), quiet), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		t.Fatal(err)
	}
	if err := kafka.EnsureTopics(ctx, cl, 1, kafka.Topics(2)); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.EventsTopic, Key: []byte{byte(i)}, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	b.Close()

	b2, err := Start(dir, 0, quiet)
	if err != nil {
		t.Fatalf("restart on the same data dir: %v", err)
	}
	defer b2.Close()
	consumer, err := kgo.NewClient(append(kafka.ClientOpts(b2.Addrs(), quiet),
		kgo.ConsumeTopics(kafka.EventsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	got := 0
	for got < 100 {
		fs := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of 100 records after restart", got)
		}
		got += fs.NumRecords()
	}
	if got != 100 {
		t.Fatalf("read %d records after restart, want 100", got)
	}
}

func TestPortInUse(t *testing.T) {
	b, err := Start(t.TempDir(), 0, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	_, port := splitPort(t, b.Addrs()[0])
	if _, err := Start(t.TempDir(), port, quiet); err == nil {
		t.Fatal("a second broker started on a port in use")
	}
}

func splitPort(t *testing.T, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
