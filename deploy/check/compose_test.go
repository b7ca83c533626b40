package check

import (
	"context"
	"os"
	"path/filepath"
	"slices"
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
		"TRACKSTREAM_ADMIN_STATE_KEY=check-admin-state-key-0123456789abcdef",
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
// processors as static group members (one service each, with its own
// TRACKSTREAM_PROCESSOR_INSTANCE_ID), admin-api on internal networks only
// and answering to its service name, one-shot topic and migration steps,
// every port but the public one on loopback, known TRACKSTREAM_*
// variables, and bind mounts that exist.
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
	for _, name := range []string{"kafka", "kafka-init", "clickhouse", "migrate", "ingest", "processor-1", "processor-2", "admin-api", "lb", "admin-gateway", "prometheus", "grafana", "tls-init"} {
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
	if replicas("ingest") != 3 {
		t.Errorf("ingest replicas %d, want 3", replicas("ingest"))
	}
	ids := map[string]string{}
	for name, s := range svc {
		if len(s.Command) == 0 || s.Command[0] != "processor" || !strings.HasPrefix(s.Image, "trackstream:") {
			continue
		}
		id := s.Environment["TRACKSTREAM_PROCESSOR_INSTANCE_ID"]
		switch {
		case id == nil || *id == "":
			t.Errorf("processor service %s has no TRACKSTREAM_PROCESSOR_INSTANCE_ID: a restarted processor waits out the 45 s session timeout", name)
		case ids[*id] != "":
			t.Errorf("processor services %s and %s share the instance id %q: they would fence each other", ids[*id], name, *id)
		case replicas(name) != 1:
			t.Errorf("processor service %s runs %d replicas with one instance id %q: they would fence each other", name, replicas(name), *id)
		default:
			ids[*id] = name
		}
		if n := s.Networks["backend"]; n == nil || !slices.Contains(n.Aliases, "processor") {
			t.Errorf("processor service %s is not reachable as `processor` on the backend network (Prometheus finds processors by that name)", name)
		}
	}
	if len(ids) != 2 {
		t.Errorf("%d processors with an instance id, want 2", len(ids))
	}
	if h := svc["admin-api"].Environment["TRACKSTREAM_ADMIN_ALLOWED_HOSTS"]; h == nil || !slices.Contains(strings.Split(*h, ","), "admin-api") {
		t.Errorf("admin-api's TRACKSTREAM_ADMIN_ALLOWED_HOSTS must list its service name admin-api (other Host names get 421): %v", h)
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
		{"processor-1", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"processor-1", "kafka-init", types.ServiceConditionCompletedSuccessfully},
		{"processor-2", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"processor-2", "kafka-init", types.ServiceConditionCompletedSuccessfully},
		{"ingest", "kafka-init", types.ServiceConditionCompletedSuccessfully},
		{"admin-api", "migrate", types.ServiceConditionCompletedSuccessfully},
		{"migrate", "clickhouse", types.ServiceConditionHealthy},
		{"kafka-init", "kafka", types.ServiceConditionHealthy},
	} {
		if got := svc[dep.svc].DependsOn[dep.on].Condition; got != dep.cond {
			t.Errorf("%s depends on %s with condition %q, want %q", dep.svc, dep.on, got, dep.cond)
		}
	}
	for _, name := range []string{"migrate", "processor-1", "processor-2", "admin-api"} {
		if dsn := svc[name].Environment["TRACKSTREAM_CLICKHOUSE_DSN"]; dsn == nil || !strings.Contains(*dsn, "@clickhouse:9000") {
			t.Errorf("service %s has no TRACKSTREAM_CLICKHOUSE_DSN pointing at the compose ClickHouse", name)
		}
	}
	for _, name := range []string{"ingest", "processor-1", "processor-2", "admin-api"} {
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
