package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/testkit"
)

// TestMain lets a test run this test binary as the real trackstream
// command: with TRACKSTREAM_TEST_RUN_MAIN=1 it runs main with the given
// arguments instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("TRACKSTREAM_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runBinary runs trackstream as a child process with env added to a clean
// environment, returning its combined output and exit error.
func runBinary(t *testing.T, timeout time.Duration, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append([]string{"TRACKSTREAM_TEST_RUN_MAIN=1", "HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func lookupOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestCLI(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		wantOut string
	}{
		{name: "no command", args: nil, wantErr: "no command given"},
		{name: "unknown role", args: []string{"serve"}, wantErr: `unknown role "serve"`},
		{name: "version", args: []string{"version"}, wantOut: "trackstream dev"},
		{name: "help lists a role's variables", args: []string{"help", "ingest"}, wantOut: "TRACKSTREAM_INGEST_MAX_BODY_BYTES"},
		{name: "check-config needs a role", args: []string{"check-config"}, wantErr: "needs a role"},
		{name: "check-config reports every error", args: []string{"check-config", "ingest"},
			env:     map[string]string{"TRACKSTREAM_INGEST_MAX_EVENTS": "0", "TRACKSTREAM_LOG_LEVEL": "loud"},
			wantErr: "TRACKSTREAM_KAFKA_BROKERS: required"},
		{name: "check-config accepts a valid role", args: []string{"check-config", "processor", "-kafka-brokers", "k:9092"},
			wantOut: "configuration of processor is valid"},
		{name: "check-config hides secrets", args: []string{"check-config", "admin-api", "-kafka-brokers", "k:9092"},
			env:     map[string]string{"TRACKSTREAM_ADMIN_PASSWORD": "wobbly-Lantern-42-orbit", "TRACKSTREAM_ADMIN_STATE_KEY": "wobbly-state-key-0123456789abcdef-0123"},
			wantOut: "TRACKSTREAM_ADMIN_PASSWORD               (set)"},
		{name: "a role refuses bad config before starting", args: []string{"ingest"}, wantErr: "TRACKSTREAM_KAFKA_BROKERS: required for the ingest role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tc.args, lookupOf(tc.env), &out, &errOut)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.wantOut) || strings.Contains(out.String(), "wobbly") {
				t.Fatalf("output does not contain %q (or shows a secret):\n%s", tc.wantOut, out.String())
			}
		})
	}
}

func TestCheckConfigReportsAllErrorsTogether(t *testing.T) {
	err := run(context.Background(), []string{"check-config", "all"}, lookupOf(map[string]string{
		"TRACKSTREAM_INGEST_MAX_EVENTS": "0", "TRACKSTREAM_LOG_LEVEL": "loud", "TRACKSTREAM_ADMIN_SESSION_TTL": "0s",
	}), &bytes.Buffer{}, &bytes.Buffer{})
	for _, want := range []string{"TRACKSTREAM_INGEST_MAX_EVENTS", "TRACKSTREAM_LOG_LEVEL", "TRACKSTREAM_ADMIN_SESSION_TTL"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

// A missing libchdb stops the roles that need ClickHouse with a message
// saying how to get it, and a weak admin password is refused with the reason.
// Both run the real command in a child process (the library is loaded once
// per process, so the parent's may not stand in).
func TestStartRefusals(t *testing.T) {
	dir := t.TempDir()
	out, err := runBinary(t, 60*time.Second, []string{
		"TRACKSTREAM_DATA_DIR=" + dir, "TRACKSTREAM_CHDB_LIB=" + dir + "/nowhere/libchdb.so",
		"TRACKSTREAM_INGEST_ADDR=127.0.0.1:0", "TRACKSTREAM_ADMIN_ADDR=127.0.0.1:0", "TRACKSTREAM_OPS_ADDR=127.0.0.1:0",
		"TRACKSTREAM_EMBEDDED_KAFKA_PORT=" + freePort(t),
	}, "all")
	if err == nil || !strings.Contains(out, "nowhere/libchdb.so") || !strings.Contains(out, "task chdb:fetch") {
		t.Fatalf("missing libchdb: err %v, output:\n%s", err, out)
	}
	out, err = runBinary(t, 60*time.Second, []string{
		"TRACKSTREAM_DATA_DIR=" + dir, "TRACKSTREAM_CHDB_LIB=" + testkit.CHDBLib(t), "TRACKSTREAM_ADMIN_PASSWORD=password123!",
		"TRACKSTREAM_INGEST_ADDR=127.0.0.1:0", "TRACKSTREAM_ADMIN_ADDR=127.0.0.1:0", "TRACKSTREAM_OPS_ADDR=127.0.0.1:0",
		"TRACKSTREAM_EMBEDDED_KAFKA_PORT=" + freePort(t),
	}, "all")
	if err == nil || !strings.Contains(out, "TRACKSTREAM_ADMIN_PASSWORD refused: weak password") {
		t.Fatalf("weak password: err %v, output:\n%s", err, out)
	}
}

func TestMigrateCommand(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	err := run(context.Background(), []string{"migrate", "-data-dir", dir, "-chdb-lib", testkit.CHDBLib(t), "-log-level", "warn"}, lookupOf(nil), &out, &bytes.Buffer{})
	if err != nil || !strings.Contains(out.String(), "clickhouse schema is current") {
		t.Fatalf("migrate: %v, output %q", err, out.String())
	}
	if _, err := os.Stat(dir + "/clickhouse"); err != nil {
		t.Fatalf("no embedded clickhouse data after migrate: %v", err)
	}
}

// The README's settings reference is generated: it must be exactly what
// `trackstream help settings` prints, so a new setting cannot go
// undocumented.
func TestReadmeSettingsTableIsCurrent(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- settings:begin (trackstream help settings) -->\n", "<!-- settings:end -->"
	_, rest, ok := strings.Cut(string(readme), begin)
	table, _, ok2 := strings.Cut(rest, end)
	if !ok || !ok2 {
		t.Fatalf("README.md lacks the %q ... %q markers", begin, end)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"help", "settings"}, lookupOf(nil), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if table != out.String() {
		t.Fatalf("README.md's settings table is out of date; replace it with the output of `go run ./cmd/trackstream help settings`")
	}
}

// TestGCPercent: a process running ingest alone collects garbage at
// GOGC=75 unless GOGC is set; other processes keep the runtime's default.
func TestGCPercent(t *testing.T) {
	for _, tc := range []struct {
		roles   string
		env     map[string]string
		want    int
		wantSet bool
	}{
		{roles: "ingest", want: ingestGCPercent, wantSet: true},
		{roles: "ingest", env: map[string]string{"GOGC": "100"}},
		{roles: "ingest", env: map[string]string{"GOGC": "off"}},
		{roles: "ingest", env: map[string]string{"GOGC": ""}},
		{roles: "all"},
		{roles: "processor"},
		{roles: "admin-api"},
		{roles: "ingest,admin-api"},
	} {
		roles, err := config.ParseSet(tc.roles)
		if err != nil {
			t.Fatal(err)
		}
		got, set := gcPercent(roles, lookupOf(tc.env))
		if got != tc.want || set != tc.wantSet {
			t.Errorf("%s with %v: gcPercent = %d, %v; want %d, %v", tc.roles, tc.env, got, set, tc.want, tc.wantSet)
		}
	}
}
