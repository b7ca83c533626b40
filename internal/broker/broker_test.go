package broker

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/config"
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
	cl, err := kgo.NewClient(append(append(kafka.ClientOpts(b.Addrs(), quiet), b.Security().Opts()...), kgo.RequiredAcks(kgo.AllISRAcks()))...)
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
	consumer, err := kgo.NewClient(append(append(kafka.ClientOpts(b2.Addrs(), quiet), b2.Security().Opts()...),
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

// Only a client with the secret of the data dir is served: a raw client
// without SASL, or with another password, is refused, also by a broker
// restarted on a data dir written before the broker asked for SASL.
func TestClientsWithoutTheSecretAreRefused(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A data dir of a broker without SASL, as older versions wrote it.
	old, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(filepath.Join(dir, "kafka")))
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	b, err := Start(dir, 0, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if host, _ := splitPort(t, b.Addrs()[0]); host != "127.0.0.1" {
		t.Fatalf("broker listens on %s, want loopback only", b.Addrs()[0])
	}
	fi, err := os.Stat(SecretFile(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("secret file %s: %v, mode %v; want 0600", SecretFile(dir), err, fi.Mode().Perm())
	}
	ping := func(opts ...kgo.Opt) error {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addrs()...), kgo.DialTimeout(2 * time.Second)}, opts...)...)
		if err != nil {
			return err
		}
		defer cl.Close()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return cl.Ping(pctx)
	}
	if err := ping(); err == nil {
		t.Fatal("a client without SASL was served")
	}
	wrong, _ := kafka.Mechanism(config.SASLScramSHA256, User, "not-the-secret")
	if err := ping(kgo.SASL(wrong)); err == nil {
		t.Fatal("a client with a wrong password was served")
	}
	secret, err := os.ReadFile(SecretFile(dir))
	if err != nil {
		t.Fatal(err)
	}
	right, _ := kafka.Mechanism(config.SASLScramSHA256, User, strings.TrimSpace(string(secret)))
	if err := ping(kgo.SASL(right)); err != nil {
		t.Fatalf("a client with the secret file's password: %v", err)
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
