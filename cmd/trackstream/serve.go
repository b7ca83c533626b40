package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"

	adminapi "github.com/trackstream/trackstream/admin-api"
	"github.com/trackstream/trackstream/ingest"
	"github.com/trackstream/trackstream/internal/broker"
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/enrich"
	"github.com/trackstream/trackstream/internal/finalise"
	"github.com/trackstream/trackstream/internal/geodb"
	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/ops"
	"github.com/trackstream/trackstream/internal/secretfile"
	"github.com/trackstream/trackstream/internal/sources"
	"github.com/trackstream/trackstream/internal/store"
	"github.com/trackstream/trackstream/processor"
)

// serve runs the roles until ctx ends or a part fails, then stops in order.
func serve(ctx context.Context, roles config.Set, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	n, err := start(ctx, roles, cfg, log, stdout)
	if err != nil {
		return err
	}
	printBanner(stdout, roles, cfg, n)
	var failure error
	select {
	case <-ctx.Done():
		log.Info("stopping", "roles", roles.String())
	case failure = <-n.failed:
		log.Error("a part failed; stopping", "roles", roles.String(), "error", failure)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	return errors.Join(failure, n.stop(stopCtx))
}

// node is a running process of some roles: what it listens on and how to
// stop its parts in reverse order of starting them.
type node struct {
	log        *slog.Logger
	ops        *ops.Server
	ingestAddr string
	adminAddr  string
	kafkaAddrs []string
	// kafkaOpts are the base options of this process's Kafka clients
	// (brokers, logging, TLS and SASL).
	kafkaOpts []kgo.Opt
	failed    chan error
	stops     []func(ctx context.Context) error
	checks    []ops.Check
}

// onStop registers a stop step; steps run last-registered first.
func (n *node) onStop(f func(ctx context.Context) error) { n.stops = append(n.stops, f) }

// fail reports a part's failure without blocking.
func (n *node) fail(err error) {
	select {
	case n.failed <- err:
	default:
	}
}

// goRun runs f in the background; its stop step cancels it and waits.
func (n *node) goRun(ctx context.Context, name string, f func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := f(ctx); err != nil && ctx.Err() == nil {
			n.fail(fmt.Errorf("%s: %w", name, err))
		}
	}()
	n.onStop(func(stopCtx context.Context) error {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-stopCtx.Done():
			return fmt.Errorf("%s did not stop in time", name)
		}
	})
}

// stop fails readiness, then runs the stop steps in reverse order (the
// ops listener's last).
func (n *node) stop(ctx context.Context) error {
	if n.ops != nil {
		n.ops.Drain()
	}
	var errs []error
	for i := len(n.stops) - 1; i >= 0; i-- {
		if err := n.stops[i](ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// start builds and starts every part of the roles. On error, what was
// started is stopped again.
func start(ctx context.Context, roles config.Set, cfg config.Config, log *slog.Logger, stdout io.Writer) (n *node, err error) {
	n = &node{log: log, failed: make(chan error, 1)}
	defer func() {
		if err != nil {
			stopCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
			defer cancel()
			err = errors.Join(err, n.stop(stopCtx))
		}
	}()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The ops listener starts first and stops last: /metrics shows the
	// whole start and the final flushes, and /readyz answers 503 (not a
	// refused connection) until every part runs and again once the stop
	// begins.
	opsSrv, err := ops.Listen(cfg.OpsAddr, reg, log)
	if err != nil {
		return n, err
	}
	n.ops = opsSrv
	n.onStop(opsSrv.Close)

	brokers := cfg.Kafka.Brokers
	var sec kafka.Security
	if roles.Embedded() {
		if err := privateDataDir(cfg.DataDir); err != nil {
			return n, err
		}
		b, err := broker.Start(cfg.DataDir, cfg.Kafka.EmbeddedPort, log)
		if err != nil {
			return n, err
		}
		n.onStop(func(context.Context) error { b.Close(); return nil })
		brokers, sec = b.Addrs(), b.Security()
	} else if sec, err = kafka.NewSecurity(cfg.Kafka); err != nil {
		return n, err
	}
	n.kafkaAddrs = brokers
	base := append(kafka.ClientOpts(brokers, log), sec.Opts()...)
	n.kafkaOpts = base
	if err := ensureTopics(ctx, roles, cfg, base, sec, log); err != nil {
		return n, err
	}

	var geo *enrich.GeoIP
	if roles.Has(config.RoleIngest) || roles.Has(config.RoleProcessor) {
		if geo, err = geodb.Open(ctx, cfg.Common, log); err != nil {
			return n, err
		}
		if geo != nil {
			n.goRun(ctx, "GeoIP reloader", func(ctx context.Context) error {
				geo.Watch(ctx, cfg.GeoIPCheckInterval, log)
				return nil
			})
		}
	}

	var st clickhouse
	if roles.Has(config.RoleProcessor) || roles.Has(config.RoleAdmin) {
		if st, err = openStore(ctx, cfg, roles, log); err != nil {
			return n, err
		}
		n.onStop(func(context.Context) error { return st.Close() })
		n.checks = append(n.checks, ops.Check{Name: "clickhouse", Reason: "unreachable", Fn: st.Ping})
	}
	if roles.Has(config.RoleProcessor) {
		p, err := processor.New(cfg.Processor, base, st, log.With("role", "processor"), reg, processor.WithGeoIP(geo))
		if err != nil {
			return n, err
		}
		n.goRun(ctx, "processor", func(ctx context.Context) error { return p.Run(ctx, cfg.ShutdownTimeout/2) })
		fin, err := finalise.New(st, finalise.Settings{Interval: cfg.Processor.SessionsFinaliseInterval, Lateness: cfg.Processor.SessionsFinaliseLateness, TTL: cfg.ClickHouse.TTL},
			log.With("role", "processor", "job", "session finaliser"), reg)
		if err != nil {
			return n, err
		}
		n.goRun(ctx, "session finaliser", fin.Run)
	}
	if roles.Has(config.RoleAdmin) {
		if err := startAdmin(ctx, n, cfg, roles, base, st, reg, stdout); err != nil {
			return n, err
		}
	}
	if roles.Has(config.RoleIngest) {
		if err := startIngest(ctx, n, cfg, base, geo, reg); err != nil {
			return n, err
		}
	}
	opsSrv.Started(n.checks...)
	return n, nil
}

// clickhouse is what the roles of a process need from the store: the
// processor's sink and session finaliser, the admin API's queries, a
// health check and a close.
// Both stores of internal/store satisfy it (openStore returns either).
type clickhouse interface {
	processor.Sink
	adminapi.Queries
	finalise.Store
	Ping(ctx context.Context) error
	Close() error
}

// ensureTopics creates the topics trackstream needs, waiting for Kafka to
// answer (a broker may start after trackstream); Kafka refusing the
// credentials or the TLS setup stops the start at once, naming the
// settings to check.
func ensureTopics(ctx context.Context, roles config.Set, cfg config.Config, base []kgo.Opt, sec kafka.Security, log *slog.Logger) error {
	cl, err := kgo.NewClient(base...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		attemptCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err = kafka.EnsureTopics(attemptCtx, cl, int16(cfg.Kafka.ReplicationFactor), topicsOf(roles, int32(cfg.Kafka.Partitions)))
		cancel()
		if err == nil {
			return nil
		}
		if kafka.Refused(err) {
			return sec.Explain(err)
		}
		log.Warn("kafka not ready; retrying", "brokers", cfg.Kafka.Brokers, "error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka never became ready: %w", err)
		case <-time.After(wait):
		}
	}
}

// topicsOf are the topics the roles use, so each role needs Kafka ACLs on
// its own topics only (docs/deploying.md): ingest writes events and reads
// sources, the processor reads events and writes dead letters, admin-api
// writes sources, reads dead letters and replays them into events.
func topicsOf(roles config.Set, eventsPartitions int32) []kafka.Topic {
	use := map[string]bool{}
	if roles.Has(config.RoleIngest) {
		use[kafka.EventsTopic], use[kafka.SourcesTopic] = true, true
	}
	if roles.Has(config.RoleProcessor) {
		use[kafka.EventsTopic], use[kafka.DLQTopic] = true, true
	}
	if roles.Has(config.RoleAdmin) {
		use[kafka.EventsTopic], use[kafka.SourcesTopic], use[kafka.DLQTopic] = true, true, true
	}
	var out []kafka.Topic
	for _, t := range kafka.Topics(eventsPartitions) {
		if use[t.Name] {
			out = append(out, t)
		}
	}
	return out
}

// migrateSchema applies the ClickHouse migrations and exits.
func migrateSchema(ctx context.Context, cfg config.Config, roles config.Set, log *slog.Logger, stdout io.Writer) error {
	st, err := openStore(ctx, cfg, roles, log)
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return fmt.Errorf("close clickhouse: %w", err)
	}
	fmt.Fprintln(stdout, "clickhouse schema is current")
	return nil
}

// openStore opens the configured ClickHouse. Processes that write (the
// processor, and any user of the embedded engine, which is theirs alone)
// migrate the schema; an admin-api against a server only checks it, so its
// ClickHouse user may be read-only.
func openStore(ctx context.Context, cfg config.Config, roles config.Set, log *slog.Logger) (clickhouse, error) {
	opts := store.Options{
		Cluster:   cfg.ClickHouse.Cluster,
		TTL:       cfg.ClickHouse.TTL,
		CheckOnly: cfg.ClickHouse.DSN != "" && !roles.Has(config.RoleProcessor) && !roles.Has(config.RoleMigrate),
	}
	if cfg.ClickHouse.DSN != "" {
		return store.OpenServer(ctx, cfg.ClickHouse.DSN, log, opts)
	}
	return store.OpenEmbedded(ctx, cfg.ClickHouse.CHDBLib, cfg.DataDir, log, opts)
}

func kafkaPing(cl *kgo.Client) ops.Check {
	return ops.Check{Name: "kafka", Reason: "unreachable", Fn: func(ctx context.Context) error { return kafka.Ping(ctx, cl) }}
}

// followSources starts a registry following the sources topic.
func followSources(ctx context.Context, n *node, base []kgo.Opt) *sources.Registry {
	reg := sources.NewRegistry()
	n.goRun(ctx, "sources follower", func(ctx context.Context) error { return reg.Follow(ctx, base, n.log) })
	n.checks = append(n.checks, ops.Check{Name: "sources", Reason: "not loaded", Fn: func(context.Context) error {
		if !reg.Loaded() {
			return errors.New("sources not loaded yet from " + kafka.SourcesTopic)
		}
		return nil
	}})
	return reg
}

func startIngest(ctx context.Context, n *node, cfg config.Config, base []kgo.Opt, geo *enrich.GeoIP, reg *prometheus.Registry) error {
	registry := followSources(ctx, n, base)
	opts := append(append([]kgo.Opt{}, base...), ingest.ProducerOpts(cfg.Ingest)...)
	opts = append(opts, kgo.WithHooks(kprom.NewMetrics("trackstream_ingest_kafka", kprom.Registry(reg))))
	producer, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("ingest producer: %w", err)
	}
	n.onStop(func(context.Context) error { producer.Close(); return nil })
	n.checks = append(n.checks, kafkaPing(producer))
	var ingestOpts []ingest.Option
	if geo != nil {
		ingestOpts = append(ingestOpts, ingest.WithGeoIP(geo))
	}
	srv, err := ingest.New(cfg.Ingest, producer, registry, n.log.With("role", "ingest"), reg, ingestOpts...)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Ingest.Addr)
	if err != nil {
		return fmt.Errorf("ingest listener on %s: %w (set TRACKSTREAM_INGEST_ADDR to a free address)", cfg.Ingest.Addr, err)
	}
	n.ingestAddr = ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil {
			n.fail(fmt.Errorf("ingest listener: %w", err))
		}
	}()
	n.onStop(srv.Shutdown)
	return nil
}

// collectorURL is the collector base URL the GUI shows in snippets: the
// configured one, else this process's ingest listener when its port is
// fixed.
func collectorURL(cfg config.Config, roles config.Set) string {
	if cfg.Admin.CollectorURL != "" {
		return strings.TrimSuffix(cfg.Admin.CollectorURL, "/")
	}
	if !roles.Has(config.RoleIngest) {
		return ""
	}
	if _, port, err := net.SplitHostPort(cfg.Ingest.Addr); err != nil || port == "0" {
		return ""
	}
	return "http://" + displayAddr(cfg.Ingest.Addr)
}

func startAdmin(ctx context.Context, n *node, cfg config.Config, roles config.Set, base []kgo.Opt, events adminapi.Queries, reg *prometheus.Registry, stdout io.Writer) error {
	publisher, err := kgo.NewClient(append(append([]kgo.Opt{}, base...), kgo.RequiredAcks(kgo.AllISRAcks()))...)
	if err != nil {
		return fmt.Errorf("admin kafka client: %w", err)
	}
	n.onStop(func(context.Context) error { publisher.Close(); return nil })
	topicCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = kafka.EnsureTopics(topicCtx, publisher, int16(cfg.Kafka.ReplicationFactor), []kafka.Topic{adminapi.Topic()})
	cancel()
	if err != nil {
		return err
	}
	stateKey, adopt, err := adminStateKey(cfg, roles, n.log)
	if err != nil {
		return err
	}
	registry := followSources(ctx, n, base)
	if cfg.ClickHouse.DSN != "" || n.ingestAddr == "" {
		n.checks = append(n.checks, kafkaPing(publisher))
	}
	srv, err := adminapi.New(cfg.Admin, cfg.ClickHouse.QueryTimeout, adminapi.Deps{
		Events: events, Kafka: publisher, KafkaOpts: base, Sources: registry,
		ProcessorGroup: cfg.Processor.Group, Metrics: reg, CollectorURL: collectorURL(cfg, roles),
		StateKey: stateKey, AdoptUnsigned: adopt,
	}, n.log.With("role", "admin-api"), reg)
	if err != nil {
		return err
	}
	n.goRun(ctx, "admin state follower", srv.Run)
	n.checks = append(n.checks, ops.Check{Name: "admin-state", Reason: "not loaded", Fn: srv.Ready})
	bootCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = srv.Bootstrap(bootCtx, cfg.DataDir, cfg.Admin.Password, stdout)
	cancel()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Admin.Addr)
	if err != nil {
		return fmt.Errorf("admin listener on %s: %w (set TRACKSTREAM_ADMIN_ADDR to a free address)", cfg.Admin.Addr, err)
	}
	n.adminAddr = ln.Addr().String()
	go func() {
		if err := srv.Serve(ln); err != nil {
			n.fail(fmt.Errorf("admin listener: %w", err))
		}
	}()
	n.onStop(srv.Shutdown)
	return nil
}

// adminStateKey returns the key that signs the admin state: the configured
// one, or in the all role the one kept in the data dir, generated on its
// first start. adopt reports that the key was generated now, so records
// already in the state topic predate signing and are adopted once.
func adminStateKey(cfg config.Config, roles config.Set, log *slog.Logger) (key []byte, adopt bool, err error) {
	switch {
	case cfg.Admin.StateKey != "":
		return []byte(strings.TrimSpace(cfg.Admin.StateKey)), false, nil
	case cfg.Admin.StateKeyFile != "":
		key, err := secretfile.Read(cfg.Admin.StateKeyFile)
		if err != nil {
			return nil, false, fmt.Errorf("TRACKSTREAM_ADMIN_STATE_KEY_FILE: %w", err)
		}
		return key, false, nil
	case !roles.Embedded():
		return nil, false, errors.New("TRACKSTREAM_ADMIN_STATE_KEY_FILE: required for the admin-api role")
	}
	path := filepath.Join(cfg.DataDir, adminapi.StateKeyFileName)
	key, created, err := secretfile.LoadOrCreate(path)
	if err != nil {
		return nil, false, fmt.Errorf("admin state key: %w", err)
	}
	if created {
		log.Info("generated the key that signs the admin state records; records already in the state topic are taken as written before signing and signed again", "key_file", path, "topic", adminapi.StateTopic)
	}
	return key, created, nil
}

// printBanner tells the user where everything is.
func printBanner(w io.Writer, roles config.Set, cfg config.Config, n *node) {
	fmt.Fprintf(w, "trackstream %s %s is running\n", roles, version)
	if n.ingestAddr != "" {
		fmt.Fprintf(w, "  send events:  POST http://%s/track\n", displayAddr(n.ingestAddr))
	}
	if n.adminAddr != "" {
		scheme := "http"
		if cfg.Admin.TLSCert != "" {
			scheme = "https"
		}
		fmt.Fprintf(w, "  GUI:          %s://%s/ui/ (user admin)\n", scheme, displayAddr(n.adminAddr))
		fmt.Fprintf(w, "  admin API:    %s://%s/api/v1 (log in: POST /api/v1/auth/login {\"username\":\"admin\",\"password\":\"...\"})\n", scheme, displayAddr(n.adminAddr))
		fmt.Fprintf(w, "                the password is TRACKSTREAM_ADMIN_PASSWORD, or the one printed on first start\n")
	}
	fmt.Fprintf(w, "  ops:          http://%s/metrics /healthz /readyz\n", displayAddr(n.ops.Addr()))
	if roles.Embedded() {
		fmt.Fprintf(w, "  kafka:        %v (embedded; SASL SCRAM-SHA-256, user %s, password in %s)\n  data dir:     %s\n", n.kafkaAddrs, broker.User, broker.SecretFile(cfg.DataDir), cfg.DataDir)
	}
}

// displayAddr turns a wildcard listen address into one a user can paste.
func displayAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
