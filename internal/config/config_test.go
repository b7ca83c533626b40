package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsValidForAll(t *testing.T) {
	if _, err := Load(Set{RoleAll}, nil, env(nil)); err != nil {
		t.Fatalf("defaults of the all role are invalid: %v", err)
	}
}

func TestDistributedRolesNeedBrokers(t *testing.T) {
	for _, r := range []Role{RoleIngest, RoleProcessor, RoleAdmin} {
		_, err := Load(Set{r}, nil, env(nil))
		if err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_KAFKA_BROKERS: required") {
			t.Errorf("%s without brokers: got %v", r, err)
		}
		args := []string{"-kafka-brokers", "127.0.0.1:9092"}
		if r == RoleAdmin {
			args = append(args, "-admin-state-key-file", writeFile(t, "k", strings.Repeat("k", 32)))
		}
		if _, err := Load(Set{r}, args, env(nil)); err != nil {
			t.Errorf("%s with brokers: %v", r, err)
		}
	}
}

func TestEnvThenFlags(t *testing.T) {
	cfg, err := Load(Set{RoleIngest}, []string{"-ingest-produce-timeout", "2s"}, env(map[string]string{
		"TRACKSTREAM_KAFKA_BROKERS":          "a:1, b:2",
		"TRACKSTREAM_INGEST_PRODUCE_TIMEOUT": "9s",
		"TRACKSTREAM_INGEST_MAX_EVENTS":      "50",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Ingest.ProduceTimeout != 2*time.Second {
		t.Errorf("flag did not override env: %s", cfg.Ingest.ProduceTimeout)
	}
	if cfg.Ingest.MaxEvents != 50 || strings.Join(cfg.Kafka.Brokers, "|") != "a:1|b:2" {
		t.Errorf("env not applied: %+v %v", cfg.Ingest, cfg.Kafka.Brokers)
	}
}

func TestEveryErrorReportedAtOnce(t *testing.T) {
	_, err := Load(Set{RoleAll}, nil, env(map[string]string{
		"TRACKSTREAM_LOG_FORMAT":             "xml",
		"TRACKSTREAM_INGEST_MAX_EVENTS":      "0",
		"TRACKSTREAM_PROCESSOR_BATCH_AGE":    "-1s",
		"TRACKSTREAM_ADMIN_ADDR":             "nonsense",
		"TRACKSTREAM_INGEST_PRODUCE_TIMEOUT": "soon",
	}))
	if err == nil {
		t.Fatal("invalid configuration accepted")
	}
	// The malformed duration stops Load before Validate; check it alone.
	if !strings.Contains(err.Error(), `TRACKSTREAM_INGEST_PRODUCE_TIMEOUT: "soon" is not a duration`) {
		t.Errorf("missing parse error: %v", err)
	}
	_, err = Load(Set{RoleAll}, nil, env(map[string]string{
		"TRACKSTREAM_LOG_FORMAT":          "xml",
		"TRACKSTREAM_INGEST_MAX_EVENTS":   "0",
		"TRACKSTREAM_PROCESSOR_BATCH_AGE": "-1s",
		"TRACKSTREAM_ADMIN_ADDR":          "nonsense",
	}))
	for _, want := range []string{"TRACKSTREAM_LOG_FORMAT", "TRACKSTREAM_INGEST_MAX_EVENTS", "TRACKSTREAM_PROCESSOR_BATCH_AGE", "TRACKSTREAM_ADMIN_ADDR"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s: %v", want, err)
		}
	}
}

func TestPortClashInAll(t *testing.T) {
	_, err := Load(Set{RoleAll}, []string{"-admin-addr", "127.0.0.1:8080"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "both use port 8080") {
		t.Fatalf("clash not reported: %v", err)
	}
}

func TestRoleSeesOnlyItsSections(t *testing.T) {
	// An ingest replica has no admin settings: the flag is unknown there.
	if _, err := Load(Set{RoleIngest}, []string{"-kafka-brokers", "a:1", "-admin-addr", "x:1"}, env(nil)); err == nil {
		t.Fatal("ingest accepted an admin flag")
	}
	// ...and a broken admin setting in the environment does not stop it.
	if _, err := Load(Set{RoleIngest}, []string{"-kafka-brokers", "a:1"}, env(map[string]string{"TRACKSTREAM_ADMIN_SESSION_TTL": "0s"})); err != nil {
		t.Fatalf("ingest validated admin settings: %v", err)
	}
}

func TestSecretsAreEnvOnlyAndRedacted(t *testing.T) {
	if _, err := Load(Set{RoleAll}, []string{"-admin-password", "x"}, env(nil)); err == nil {
		t.Fatal("the admin password was accepted as a flag")
	}
	cfg, err := Load(Set{RoleAll}, nil, env(map[string]string{"TRACKSTREAM_ADMIN_PASSWORD": "correct horse battery staple"}))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cfg.Describe(&out, Set{RoleAll})
	if strings.Contains(out.String(), "horse") || !strings.Contains(out.String(), "TRACKSTREAM_ADMIN_PASSWORD") {
		t.Fatalf("secret shown or missing in:\n%s", out.String())
	}
}

func TestParseRole(t *testing.T) {
	if r, err := ParseRole("admin-api"); err != nil || r != RoleAdmin {
		t.Fatalf("admin-api: %v %v", r, err)
	}
	if _, err := ParseRole("admin"); err == nil {
		t.Fatal("unknown role accepted")
	}
}

func TestParseSet(t *testing.T) {
	s, err := ParseSet("processor,admin-api")
	if err != nil || !s.Has(RoleProcessor) || !s.Has(RoleAdmin) || s.Has(RoleIngest) || s.Embedded() {
		t.Fatalf("processor,admin-api: %v %v", s, err)
	}
	all, err := ParseSet("all")
	if err != nil || !all.Has(RoleIngest) || !all.Has(RoleProcessor) || !all.Has(RoleAdmin) || !all.Embedded() {
		t.Fatalf("all: %v %v", all, err)
	}
	for _, bad := range []string{"all,ingest", "ingest,ingest", "ingest,", "admin"} {
		if _, err := ParseSet(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// A combined set validates the union of its sections.
	_, err = Load(Set{RoleProcessor, RoleAdmin}, []string{"-kafka-brokers", "k:1", "-processor-workers", "0", "-admin-session-ttl", "0s"}, env(nil))
	if err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_PROCESSOR_WORKERS") || !strings.Contains(err.Error(), "TRACKSTREAM_ADMIN_SESSION_TTL") {
		t.Fatalf("combined validation: %v", err)
	}
}

func TestMigrateRole(t *testing.T) {
	if _, err := ParseSet("migrate,processor"); err == nil {
		t.Fatal("migrate combined with another role")
	}
	cfg, err := Load(Set{RoleMigrate}, []string{"-clickhouse-ttl", "720h"}, env(nil))
	if err != nil {
		t.Fatalf("migrate needs no Kafka: %v", err)
	}
	if cfg.ClickHouse.TTL != 720*time.Hour {
		t.Fatalf("ttl %s", cfg.ClickHouse.TTL)
	}
	if _, err := Load(Set{RoleMigrate}, []string{"-ingest-addr", ":1"}, env(nil)); err == nil {
		t.Fatal("migrate accepted an ingest flag")
	}
	_, err = Load(Set{RoleMigrate}, nil, env(map[string]string{"TRACKSTREAM_CLICKHOUSE_CLUSTER": "c1"}))
	if err == nil || !strings.Contains(err.Error(), "needs TRACKSTREAM_CLICKHOUSE_DSN") {
		t.Fatalf("cluster without a server: %v", err)
	}
}

// The all role's processor is a static group member unless told
// otherwise; distributed processors are dynamic members by default.
func TestProcessorInstanceIDDefault(t *testing.T) {
	all, err := Load(Set{RoleAll}, nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if all.Processor.InstanceID != AllInstanceID {
		t.Errorf("all role: instance id %q, want %q", all.Processor.InstanceID, AllInstanceID)
	}
	own, err := Load(Set{RoleAll}, []string{"-processor-instance-id", "node-7"}, env(nil))
	if err != nil || own.Processor.InstanceID != "node-7" {
		t.Errorf("all role with its own id: %q, %v", own.Processor.InstanceID, err)
	}
	p, err := Load(Set{RoleProcessor}, []string{"-kafka-brokers", "k:9092"}, env(nil))
	if err != nil || p.Processor.InstanceID != "" {
		t.Errorf("processor role: instance id %q, %v; want none", p.Processor.InstanceID, err)
	}
}

// The test fault hooks are configuration like any other: off by default,
// read from their TRACKSTREAM_FAULT_* variables, and validated.
func TestFaultHooks(t *testing.T) {
	def := Default().Processor
	if def.Faulty() {
		t.Fatalf("fault hooks on by default: %+v", def)
	}
	cfg, err := Load(Set{RoleAll}, nil, env(map[string]string{
		"TRACKSTREAM_FAULT_INSERT_ERRORS_FOR": "20s",
		"TRACKSTREAM_FAULT_EXIT_AFTER_INSERT": "3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Processor.FaultInsertErrorsFor != 20*time.Second || cfg.Processor.FaultExitAfterInsert != 3 || !cfg.Processor.Faulty() {
		t.Errorf("fault hooks not read: %+v", cfg.Processor)
	}
	for k, v := range map[string]string{
		"TRACKSTREAM_FAULT_INSERT_ERRORS_FOR": "-1s",
		"TRACKSTREAM_FAULT_EXIT_AFTER_INSERT": "-2",
	} {
		_, err := Load(Set{RoleAll}, nil, env(map[string]string{k: v}))
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: got %v, want an error naming it", k, v, err)
		}
	}
	bad := Default().Processor
	bad.Workers = 0
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_PROCESSOR_WORKERS") {
		t.Errorf("Processor.Validate with 0 workers: %v", err)
	}
}

// A renamed variable is refused with its new name, not silently ignored.
func TestRenamedVariableIsRefused(t *testing.T) {
	_, err := Load(Set{RoleProcessor}, nil, env(map[string]string{
		"TRACKSTREAM_KAFKA_BROKERS":      "a:1",
		"TRACKSTREAM_PROCESSOR_GEOIP_DB": "/data/GeoLite2-City.mmdb",
	}))
	if err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_PROCESSOR_GEOIP_DB was renamed TRACKSTREAM_GEOIP_DB") {
		t.Fatalf("Load with the former GeoIP variable: %v", err)
	}
	cfg, err := Load(Set{RoleProcessor}, nil, env(map[string]string{
		"TRACKSTREAM_KAFKA_BROKERS": "a:1",
		"TRACKSTREAM_GEOIP_DB":      "/data/GeoLite2-City.mmdb",
	}))
	if err != nil || cfg.GeoIPDB != "/data/GeoLite2-City.mmdb" {
		t.Fatalf("Load with TRACKSTREAM_GEOIP_DB: %v, %q", err, cfg.GeoIPDB)
	}
}

func TestAdminAllowedHostsValidated(t *testing.T) {
	cfg, err := Load(Set{RoleAll}, nil, env(map[string]string{"TRACKSTREAM_ADMIN_ALLOWED_HOSTS": "admin.example.com, gui-1.internal."}))
	if err != nil || len(cfg.Admin.AllowedHosts) != 2 {
		t.Fatalf("valid host names: %v %v", cfg.Admin.AllowedHosts, err)
	}
	for _, bad := range []string{"https://admin.example.com", "admin.example.com:8081", "a..b", "*.example.com"} {
		_, err := Load(Set{RoleAll}, nil, env(map[string]string{"TRACKSTREAM_ADMIN_ALLOWED_HOSTS": bad}))
		if err == nil || !strings.Contains(err.Error(), "TRACKSTREAM_ADMIN_ALLOWED_HOSTS") {
			t.Errorf("%q accepted: %v", bad, err)
		}
	}
}
