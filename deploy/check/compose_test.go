package check

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// composeSecrets are the variables compose.yaml requires.
func composeSecrets() []string {
	return []string{
		"TRACKSTREAM_ADMIN_PASSWORD=check-Admin-pass-7q2",
		"CLICKHOUSE_PASSWORD=check-clickhouse-pass",
		"CLICKHOUSE_GRAFANA_PASSWORD=check-grafana-ch-pass",
		"GRAFANA_ADMIN_PASSWORD=check-grafana-admin",
	}
}

// loadCompose loads and validates deploy/compose/compose.yaml with
// compose-go, the loader `docker compose` itself uses.
func loadCompose(t *testing.T, env []string) (*types.Project, error) {
	t.Helper()
	dir := filepath.Join(mustRoot(t), "deploy", "compose")
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")},
		cli.WithWorkingDirectory(dir), cli.WithName("trackstream"), cli.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return opts.LoadProject(ctx)
}

// TestComposeValidates loads the compose file and checks the shape the
// issue asks for: 3 ingest replicas behind a TLS load balancer, 2
// processors, admin-api on internal networks only, one-shot topic and
// migration steps, every port but the public one on loopback, known
// TRACKSTREAM_* variables, and bind mounts that exist.
func TestComposeValidates(t *testing.T) {
	p, err := loadCompose(t, composeSecrets())
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	envs := roleEnvs(t, buildLikeDockerfile(t, "deploy-check"))
	svc := map[string]types.ServiceConfig{}
	for name, s := range p.Services {
		svc[name] = s
	}
	for _, name := range []string{"kafka", "kafka-init", "clickhouse", "migrate", "ingest", "processor", "admin-api", "lb", "admin-gateway", "prometheus", "grafana", "tls-init"} {
		if _, ok := svc[name]; !ok {
			t.Errorf("no service %s", name)
		}
	}
	replicas := func(name string) int {
		if d := svc[name].Deploy; d != nil && d.Replicas != nil {
			return *d.Replicas
		}
		return 1
	}
	if replicas("ingest") != 3 || replicas("processor") != 2 {
		t.Errorf("ingest replicas %d, processor replicas %d; want 3 and 2", replicas("ingest"), replicas("processor"))
	}
	internal := map[string]bool{}
	for name, n := range p.Networks {
		internal[name] = n.Internal
	}
	if !internal["collect"] || !internal["backend"] {
		t.Errorf("networks collect and backend must be internal: %v", internal)
	}
	for net := range svc["admin-api"].Networks {
		if !internal[net] {
			t.Errorf("admin-api is on network %s, which is not internal", net)
		}
	}
	for name, s := range svc {
		for _, port := range s.Ports {
			public := port.HostIP == "" || port.HostIP == "0.0.0.0"
			if public && name != "lb" {
				t.Errorf("service %s publishes port %s on every interface; only the public load balancer may", name, port.Published)
			}
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("service %s mounts %s, which does not exist: %v", name, v.Source, err)
				}
			}
		}
		if strings.HasPrefix(s.Image, "trackstream:") {
			if len(s.Command) == 0 {
				t.Errorf("service %s runs trackstream without a role", name)
				continue
			}
			var names []string
			for k := range s.Environment {
				names = append(names, k)
			}
			checkEnv(t, envs, "compose service "+name, s.Command[0], names)
		}
	}
	for _, dep := range []struct{ svc, on, cond string }{
		{"processor", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"processor", "kafka-init", types.ServiceConditionCompletedSuccessfully},
		{"ingest", "kafka-init", types.ServiceConditionCompletedSuccessfully},
		{"admin-api", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"migrate", "clickhouse", types.ServiceConditionHealthy},
		{"kafka-init", "kafka", types.ServiceConditionHealthy},
	} {
		if got := svc[dep.svc].DependsOn[dep.on].Condition; got != dep.cond {
			t.Errorf("%s depends on %s with condition %q, want %q", dep.svc, dep.on, got, dep.cond)
		}
	}
	for _, name := range []string{"migrate", "processor", "admin-api"} {
		if dsn := svc[name].Environment["TRACKSTREAM_CLICKHOUSE_DSN"]; dsn == nil || !strings.Contains(*dsn, "@clickhouse:9000") {
			t.Errorf("service %s has no TRACKSTREAM_CLICKHOUSE_DSN pointing at the compose ClickHouse", name)
		}
	}
	for _, name := range []string{"ingest", "processor", "admin-api"} {
		if b := svc[name].Environment["TRACKSTREAM_KAFKA_BROKERS"]; b == nil || *b != "kafka:9092" {
			t.Errorf("service %s is not pointed at the compose Kafka", name)
		}
	}
	if env := svc["kafka"].Environment["KAFKA_AUTO_CREATE_TOPICS_ENABLE"]; env == nil || *env != "false" {
		t.Error("the compose Kafka broker must not auto-create topics")
	}
}

// TestComposeRequiresSecrets shows the compose file refuses to start
// without its secrets rather than running with empty passwords.
func TestComposeRequiresSecrets(t *testing.T) {
	_, err := loadCompose(t, nil)
	if err == nil || !strings.Contains(err.Error(), "CLICKHOUSE_PASSWORD") {
		t.Errorf("compose.yaml loaded without CLICKHOUSE_PASSWORD: %v", err)
	}
}
