package e2e

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	adminapi "github.com/trackstream/trackstream/admin-api"
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
	"github.com/trackstream/trackstream/internal/testkit/kafkanode"
	"github.com/trackstream/trackstream/internal/testkit/proc"
)

// trackstream's Kafka security settings against a real Apache Kafka with
// SASL_PLAINTEXT and SASL_SSL listeners: PLAIN, SCRAM-SHA-256 and
// SCRAM-SHA-512 with the right password produce and consume, a wrong one
// is refused with an error naming the settings to check, and the ingest
// role starts with them (and stops at once, naming the setting, with a
// wrong password); with Kafka's authorizer on, ingest runs with only the
// ACLs docs/deploying.md lists for it.
func TestKafkaSASLAndTLSSettings(t *testing.T) {
	testkit.SkipShort(t)
	jars, lib := requireTools(t)
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	certs := testkit.WriteCerts(t, dir)
	b, err := kafkanode.Start(ctx, kafkanode.Config{
		JarsDir: jars, Dir: filepath.Join(dir, "kafka"),
		SASLUsers: map[string]string{"plainuser": "plain-password", "ingest": "ingest-password", "pipeline": "pipeline-password", "nobody": "nobody-password"},
		TLSCert:   certs.Cert, TLSKey: certs.Key,
		SuperUsers: []string{"plainuser", "scram256", "scram512"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("broker log tail:\n%s", b.LogTail(40))
		}
		_ = b.Close()
	})
	var topics []kafkanode.Topic
	for _, tp := range kafka.Topics(1) {
		topics = append(topics, kafkanode.Topic{Name: tp.Name, Partitions: tp.Partitions, Configs: tp.Configs})
	}
	if err := b.CreateTopics(ctx, topics...); err != nil {
		t.Fatal(err)
	}
	// SCRAM users exist only once created through the Kafka API.
	plainCl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer plainCl.Close()
	res, err := kadm.NewClient(plainCl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "scram256", Mechanism: kadm.ScramSha256, Iterations: 4096, Password: "scram-256-password"},
		{User: "scram512", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "scram-512-password"},
	})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create SCRAM users: %v", err)
	}

	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("scram-512-password\n"), 0o600)
	for _, tc := range []struct {
		name string
		addr string
		cfg  config.Kafka
	}{
		{"PLAIN", b.SASLAddr(), config.Kafka{SASLMechanism: config.SASLPlain, SASLUsername: "plainuser", SASLPassword: "plain-password"}},
		{"SCRAM-SHA-256", b.SASLAddr(), config.Kafka{SASLMechanism: config.SASLScramSHA256, SASLUsername: "scram256", SASLPassword: "scram-256-password"}},
		{"SCRAM-SHA-512 from a file", b.SASLAddr(), config.Kafka{SASLMechanism: config.SASLScramSHA512, SASLUsername: "scram512", SASLPasswordFile: pwFile}},
		{"PLAIN over TLS", b.SASLSSLAddr(), config.Kafka{TLSCAFile: certs.CA, SASLMechanism: config.SASLPlain, SASLUsername: "plainuser", SASLPassword: "plain-password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec, err := kafka.NewSecurity(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := produceConsume(ctx, tc.addr, sec, tc.name); err != nil {
				t.Fatalf("right credentials: %v", err)
			}
			wrong := tc.cfg
			wrong.SASLPassword, wrong.SASLPasswordFile = "wrong-password", ""
			sec, err = kafka.NewSecurity(wrong)
			if err != nil {
				t.Fatal(err)
			}
			// A produce retries until its deadline (franz-go); the start of
			// every role asks for metadata first, which fails at once.
			err = ping(ctx, tc.addr, sec)
			if !kafka.Refused(err) {
				t.Fatalf("wrong password: %v, want a SASL refusal", err)
			}
			if msg := sec.Explain(err).Error(); !strings.Contains(msg, "TRACKSTREAM_KAFKA_SASL_PASSWORD") || strings.Contains(msg, "wrong-password") {
				t.Fatalf("wrong password explained as %q: want the settings named, never the password", msg)
			}
		})
	}

	root, err := proc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := proc.Build(ctx, root, dir)
	if err != nil {
		t.Fatal(err)
	}
	env := []string{
		"TRACKSTREAM_KAFKA_BROKERS=" + b.SASLSSLAddr(),
		"TRACKSTREAM_KAFKA_TLS_CA_FILE=" + certs.CA,
		"TRACKSTREAM_KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"TRACKSTREAM_KAFKA_SASL_USERNAME=scram512",
		"TRACKSTREAM_DATA_DIR=" + filepath.Join(dir, "ingest"),
		"TRACKSTREAM_INGEST_ADDR=" + testkit.FreeAddr(t),
		"TRACKSTREAM_LOG_LEVEL=warn",
	}
	ops := testkit.FreeAddr(t)
	ing, err := proc.Start(ctx, proc.Spec{Name: "ingest", Bin: bin, Role: "ingest", OpsAddr: ops,
		Env: append(append([]string{}, env...), "TRACKSTREAM_OPS_ADDR="+ops, "TRACKSTREAM_KAFKA_SASL_PASSWORD_FILE="+pwFile)}, readyTimeout)
	if err != nil {
		t.Fatalf("ingest with SASL_SSL and SCRAM-SHA-512: %v", err)
	}
	if err := ing.Terminate(20 * time.Second); err != nil {
		t.Errorf("ingest stop: %v", err)
	}

	// The ingest role with exactly the ACLs docs/deploying.md lists for it
	// (no Create: the topics exist) starts; a user without ACLs is
	// stopped at once with the ACL named.
	for _, acl := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:ingest").Topics(kafka.EventsTopic).Operations(kadm.OpWrite, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:ingest").Topics(kafka.SourcesTopic).Operations(kadm.OpRead, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:ingest").Clusters().Operations(kadm.OpIdempotentWrite),
	} {
		res, err := kadm.NewClient(plainCl).CreateACLs(ctx, acl.ResourcePatternType(kadm.ACLPatternLiteral))
		for _, r := range res {
			if err == nil {
				err = r.Err
			}
		}
		if err != nil {
			t.Fatalf("create the ingest ACLs: %v", err)
		}
	}
	ingestAddr := testkit.FreeAddr(t)
	aclEnv := []string{
		"TRACKSTREAM_KAFKA_BROKERS=" + b.SASLAddr(), "TRACKSTREAM_KAFKA_SASL_MECHANISM=PLAIN",
		"TRACKSTREAM_DATA_DIR=" + filepath.Join(dir, "ingest-acl"), "TRACKSTREAM_INGEST_ADDR=" + ingestAddr, "TRACKSTREAM_LOG_LEVEL=warn",
	}
	ops = testkit.FreeAddr(t)
	ing, err = proc.Start(ctx, proc.Spec{Name: "ingest-acl", Bin: bin, Role: "ingest", OpsAddr: ops,
		Env: append(append([]string{}, aclEnv...), "TRACKSTREAM_OPS_ADDR="+ops, "TRACKSTREAM_KAFKA_SASL_USERNAME=ingest", "TRACKSTREAM_KAFKA_SASL_PASSWORD=ingest-password")}, readyTimeout)
	if err != nil {
		t.Fatalf("ingest with only its documented ACLs: %v", err)
	}
	// processor,admin-api as one principal with the union of the two
	// roles' documented ACLs: an event sent to that ingest is stored and
	// counted, and the admin logs in (state written and read back).
	if err := b.CreateTopics(ctx, kafkanode.Topic{Name: adminapi.StateTopic, Partitions: adminapi.Topic().Partitions, Configs: adminapi.Topic().Configs}); err != nil {
		t.Fatal(err)
	}
	for _, acl := range []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:pipeline").Topics(kafka.EventsTopic).Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:pipeline").Topics(kafka.DLQTopic).Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:pipeline").Topics(kafka.SourcesTopic).Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:pipeline").Topics(adminapi.StateTopic).Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:pipeline").Groups(config.Default().Processor.Group).Operations(kadm.OpRead, kadm.OpDescribe),
		kadm.NewACLs().Allow("User:pipeline").Clusters().Operations(kadm.OpIdempotentWrite),
	} {
		res, err := kadm.NewClient(plainCl).CreateACLs(ctx, acl.ResourcePatternType(kadm.ACLPatternLiteral))
		for _, r := range res {
			if err == nil {
				err = r.Err
			}
		}
		if err != nil {
			t.Fatalf("create the processor and admin-api ACLs: %v", err)
		}
	}
	stateKey := filepath.Join(dir, "admin-state.key")
	os.WriteFile(stateKey, []byte(strings.Repeat("state-key-", 4)), 0o600)
	ops, adminAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	store, err := proc.Start(ctx, proc.Spec{Name: "processor,admin-api", Bin: bin, Role: "processor,admin-api", OpsAddr: ops,
		Env: []string{
			"TRACKSTREAM_KAFKA_BROKERS=" + b.SASLAddr(), "TRACKSTREAM_KAFKA_SASL_MECHANISM=PLAIN",
			"TRACKSTREAM_KAFKA_SASL_USERNAME=pipeline", "TRACKSTREAM_KAFKA_SASL_PASSWORD=pipeline-password",
			"TRACKSTREAM_DATA_DIR=" + filepath.Join(dir, "store"), "TRACKSTREAM_CHDB_LIB=" + lib,
			"TRACKSTREAM_ADMIN_PASSWORD=" + adminPassword, "TRACKSTREAM_ADMIN_STATE_KEY_FILE=" + stateKey,
			"TRACKSTREAM_ADMIN_ADDR=" + adminAddr, "TRACKSTREAM_OPS_ADDR=" + ops, "TRACKSTREAM_LOG_LEVEL=warn",
		}}, readyTimeout)
	if err != nil {
		t.Fatalf("processor,admin-api with only their documented ACLs: %v", err)
	}
	adm, err := client.Login(ctx, "http://"+adminAddr, "admin", adminPassword)
	if err != nil {
		t.Fatalf("admin login on processor,admin-api with only their ACLs: %v", err)
	}
	src, err := adm.CreateSource(ctx, "acl check")
	if err != nil {
		t.Fatal(err)
	}
	if err := client.WaitSourceKnown(ctx, "http://"+ingestAddr, src, time.Minute); err != nil {
		t.Fatal(err)
	}
	if code, body, err := client.Post(ctx, "http://"+ingestAddr+"/track", []byte(`{"source":{"id":"`+src+`"},"events":[{"id":"acl-1","type":"page-view"}]}`)); err != nil || code != 200 {
		t.Fatalf("track through ingest with its ACLs: %d %s %v", code, body, err)
	}
	if err := testkit.Poll(ctx, time.Minute, func(ctx context.Context) bool { n, err := adm.Count(ctx, src); return err == nil && n == 1 }); err != nil {
		t.Fatalf("the event was not stored by the processor with its ACLs: %v\n%s", err, store.Tail(30))
	}
	for _, p := range []*proc.Process{ing, store} {
		if err := p.Terminate(30 * time.Second); err != nil {
			t.Errorf("%s stop: %v", p.Name(), err)
		}
	}

	nobodyCtx, nobodyCancel := context.WithTimeout(ctx, time.Minute)
	defer nobodyCancel()
	nobody := exec.CommandContext(nobodyCtx, bin, "ingest")
	nobody.Env = append(append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}, aclEnv...), "TRACKSTREAM_OPS_ADDR="+testkit.FreeAddr(t),
		"TRACKSTREAM_KAFKA_SASL_USERNAME=nobody", "TRACKSTREAM_KAFKA_SASL_PASSWORD=nobody-password")
	if out, err := nobody.CombinedOutput(); err == nil || nobodyCtx.Err() != nil || !strings.Contains(string(out), "lacks an ACL") {
		t.Fatalf("ingest as a user without ACLs: %v (context %v), want it to exit naming the missing ACL\n%s", err, nobodyCtx.Err(), out)
	}

	runCtx, runCancel := context.WithTimeout(ctx, time.Minute)
	defer runCancel()
	cmd := exec.CommandContext(runCtx, bin, "ingest")
	cmd.Env = append(append([]string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}, env...), "TRACKSTREAM_OPS_ADDR="+testkit.FreeAddr(t), "TRACKSTREAM_KAFKA_SASL_PASSWORD=wrong-password")
	out, err := cmd.CombinedOutput()
	if err == nil || runCtx.Err() != nil {
		t.Fatalf("ingest with a wrong password: %v (context %v), want it to exit with an error at once\n%s", err, runCtx.Err(), out)
	}
	if !strings.Contains(string(out), "TRACKSTREAM_KAFKA_SASL_PASSWORD") || !strings.Contains(string(out), "scram512") || strings.Contains(string(out), "wrong-password") {
		t.Fatalf("ingest with a wrong password said:\n%s\nwant the user and the settings to check, never the password", out)
	}
}

// ping asks the broker at addr for metadata with a client of sec.
func ping(ctx context.Context, addr string, sec kafka.Security) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(kafka.ClientOpts([]string{addr}, quietLog), sec.Opts()...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.Ping(ctx)
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// produceConsume writes one record to the dead-letter topic and reads it
// back with clients of sec.
func produceConsume(ctx context.Context, addr string, sec kafka.Security, value string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	opts := append(kafka.ClientOpts([]string{addr}, quietLog), sec.Opts()...)
	cl, err := kgo.NewClient(append(opts, kgo.ConsumeTopics(kafka.DLQTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: kafka.DLQTopic, Value: []byte(value)}).FirstErr(); err != nil {
		return err
	}
	for {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return err
		}
		found := false
		fs.EachRecord(func(r *kgo.Record) { found = found || string(r.Value) == value })
		if found {
			return nil
		}
	}
}
