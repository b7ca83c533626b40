package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	adminapi "github.com/trackstream/trackstream/admin-api"
	"github.com/trackstream/trackstream/internal/broker"
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/testkit"
)

// The probe's attack on the all role: a local user with a Kafka client.
// Without the broker's secret the broker refuses it; with the secret (an
// operator's tool) it can write the admin state topic, but a forged
// session record logs nobody in, because the state key that signs records
// is another file the broker never sees.
func TestLocalKafkaWriterCannotForgeAnAdminSession(t *testing.T) {
	testkit.SkipShort(t)
	dir := t.TempDir()
	n, _ := startAll(t, testConfig(t, dir))
	login(t, n.adminAddr) // the real admin still logs in

	secretPath, keyPath := broker.SecretFile(dir), filepath.Join(dir, adminapi.StateKeyFileName)
	for _, p := range []string{secretPath, keyPath} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v; want a 0600 file", p, err, fi.Mode().Perm())
		}
	}
	secret, _ := os.ReadFile(secretPath)
	key, _ := os.ReadFile(keyPath)
	if string(secret) == string(key) {
		t.Fatal("the broker's secret and the state key are the same")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	anonymous, err := kgo.NewClient(kgo.SeedBrokers(n.kafkaAddrs...), kgo.DialTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	pingCtx, pingCancel := context.WithTimeout(ctx, 5*time.Second)
	err = anonymous.Ping(pingCtx)
	pingCancel()
	anonymous.Close()
	if err == nil {
		t.Fatal("the embedded broker served a client without its secret")
	}

	// What docs/deploying.md tells an operator: SCRAM-SHA-256 as user
	// trackstream with the secret file's text.
	mech, _ := kafka.Mechanism(config.SASLScramSHA256, broker.User, strings.TrimSpace(string(secret)))
	writer, err := kgo.NewClient(kgo.SeedBrokers(n.kafkaAddrs...), kgo.SASL(mech))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	const token = "forged-session-token-from-local-kafka-writer"
	sum := sha256.Sum256([]byte(token))
	d := hex.EncodeToString(sum[:])
	now := time.Now().UTC()
	value, _ := json.Marshal(map[string]any{"digest": d, "user": "admin", "created_at": now, "last_seen": now, "expires_at": now.Add(time.Hour)})
	if err := writer.ProduceSync(ctx, &kgo.Record{Topic: adminapi.StateTopic, Key: []byte("session/" + d), Value: value}).FirstErr(); err != nil {
		t.Fatalf("a client with the broker's secret could not write: %v", err)
	}

	testkit.Eventually(t, 15*time.Second, "the forged record read and ignored", func() bool {
		return strings.Contains(opsMetrics(t, n.ops.Addr()), `trackstream_admin_state_records_ignored_total{reason="unsigned"} 1`)
	})
	req, _ := http.NewRequest("GET", "http://"+n.adminAddr+"/api/v1/users", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged session: %d %s, want 401", resp.StatusCode, body)
	}
}

// opsMetrics is the text of the ops listener's /metrics.
func opsMetrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
