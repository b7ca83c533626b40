package harness

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/testkit/client"
	"github.com/trackstream/trackstream/internal/testkit/kafkanode"
)

// splitStoreRole is the process that stores and answers in S3 split. With
// the embedded ClickHouse (chDB) one data path belongs to one process, so
// the processor and admin-api share a process, as the README's roles
// table documents; with a ClickHouse server (TRACKSTREAM_CLICKHOUSE_DSN)
// they could run apart.
const splitStoreRole = "processor,admin-api"

// splitEventsPartitions is the partition count of trackstream.events in S3
// split: the product's default (TRACKSTREAM_KAFKA_PARTITIONS), as `trackstream
// all` creates it in S3.
const splitEventsPartitions = 6

// splitStack is S3 split running: Apache Kafka (the end-to-end suite's
// broker, internal/testkit/kafkanode), `trackstream ingest`, and
// `trackstream processor,admin-api`, each its own process.
type splitStack struct {
	broker       *kafkanode.Node
	ingest       *proc
	store        *proc
	adm          *client.Admin
	ingestAddr   string
	storeOpsAddr string
}

// stop stops the trackstream processes, then the broker.
func (s *splitStack) stop() error {
	var errs []error
	for _, p := range []*proc{s.ingest, s.store} {
		if p != nil {
			if err := p.stop(time.Minute); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if s.broker != nil {
		if err := s.broker.Stop(time.Minute); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("stop S3 split: %v", errs)
	}
	return nil
}

// processes are the stack's processes whose CPU S3 split reports; ingest
// first (the load's server).
func (s *splitStack) processes() []processRef {
	return []processRef{
		{name: "ingest", pid: s.ingest.pid()},
		{name: splitStoreRole, pid: s.store.pid()},
		{name: "apache kafka", pid: s.broker.PID()},
	}
}

// startSplit starts Apache Kafka on loopback, creates the topics, then
// `trackstream processor,admin-api` and `trackstream ingest` against it,
// and logs in to the admin API. Everything lives in <work dir>/split.
func (h *harness) startSplit(ctx context.Context) (s *splitStack, err error) {
	dir := filepath.Join(h.cfg.WorkDir, "split")
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("S3 split work dir: %w", err)
	}
	s = &splitStack{}
	defer func() {
		if err != nil {
			_ = s.stop()
		}
	}()
	if s.broker, err = kafkanode.Start(ctx, kafkanode.Config{Dir: filepath.Join(dir, "kafka"), HeapMax: "1g"}); err != nil {
		return s, err
	}
	cl, err := kgo.NewClient(kafka.ClientOpts([]string{s.broker.Addr()}, h.log)...)
	if err != nil {
		return s, err
	}
	tctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = kafka.EnsureTopics(tctx, cl, 1, kafka.Topics(splitEventsPartitions))
	cancel()
	cl.Close()
	if err != nil {
		return s, fmt.Errorf("S3 split topics on apache kafka %s: %w", s.broker.Addr(), err)
	}

	var key [48]byte
	_, _ = rand.Read(key[:])
	keyFile := filepath.Join(dir, "admin-state.key")
	if err := os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(key[:])), 0o600); err != nil {
		return s, fmt.Errorf("admin state key: %w", err)
	}
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	password := "Bench-" + hex.EncodeToString(pw[:])
	addrs := make([]string, 4) // admin, store ops, ingest, ingest ops
	for i := range addrs {
		if addrs[i], err = freeAddr(); err != nil {
			return s, err
		}
	}
	s.storeOpsAddr, s.ingestAddr = addrs[1], addrs[2]
	common := []string{"TRACKSTREAM_KAFKA_BROKERS=" + s.broker.Addr(), "TRACKSTREAM_LOG_LEVEL=warn"}
	if s.store, err = h.startRole(ctx, "split-store", splitStoreRole, addrs[1], append([]string{
		"TRACKSTREAM_DATA_DIR=" + filepath.Join(dir, "store"),
		"TRACKSTREAM_CHDB_LIB=" + h.cfg.LibPath,
		"TRACKSTREAM_ADMIN_STATE_KEY_FILE=" + keyFile,
		"TRACKSTREAM_ADMIN_PASSWORD=" + password,
		"TRACKSTREAM_ADMIN_ADDR=" + addrs[0],
		"TRACKSTREAM_OPS_ADDR=" + addrs[1],
	}, common...)); err != nil {
		return s, err
	}
	if s.ingest, err = h.startRole(ctx, "split-ingest", "ingest", addrs[3], append([]string{
		"TRACKSTREAM_DATA_DIR=" + filepath.Join(dir, "ingest"),
		"TRACKSTREAM_INGEST_ADDR=" + addrs[2],
		"TRACKSTREAM_OPS_ADDR=" + addrs[3],
	}, common...)); err != nil {
		return s, err
	}
	if s.adm, err = client.Login(ctx, "http://"+addrs[0], "admin", password); err != nil {
		return s, fmt.Errorf("log in to %s's admin API: %w", splitStoreRole, err)
	}
	return s, nil
}

// startRole starts `trackstream <role>` with env (plus the harness's own
// environment, so settings such as TRACKSTREAM_PROCESSOR_WORKERS pass
// through) and waits until its ops listener says ready. Its log is
// <work dir>/<name>.log.
func (h *harness) startRole(ctx context.Context, name, role, opsAddr string, env []string) (*proc, error) {
	p, err := startProc(name, h.cfg.Bin, []string{role}, env, filepath.Join(h.cfg.WorkDir, name+".log"))
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, p, opsAddr, 3*time.Minute); err != nil {
		_ = p.stop(time.Minute)
		return nil, err
	}
	return p, nil
}

// endToEndSplit is S3 split: S3's runs against ingest, processor,admin-api
// and Apache Kafka as separate processes, with each process's CPU.
func (h *harness) endToEndSplit(ctx context.Context) {
	s, err := h.startSplit(ctx)
	if err != nil {
		h.rep.S3SplitErr = err.Error()
		return
	}
	defer func() {
		if err := s.stop(); err != nil && h.rep.S3SplitErr == "" {
			h.rep.S3SplitErr = err.Error()
		}
	}()
	kcl, err := kgo.NewClient(kafka.ClientOpts([]string{s.broker.Addr()}, h.log)...)
	if err != nil {
		h.rep.S3SplitErr = err.Error()
		return
	}
	defer kcl.Close()
	h.brokerPid = s.broker.PID()
	defer func() { h.brokerPid = 0 }()
	for _, r := range h.s3Rates() {
		e := h.endToEndRun(ctx, s.processes(), s.adm, kadm.NewClient(kcl), s.ingestAddr, s.storeOpsAddr, r.Batch, r.EPS)
		h.rep.S3Split = append(h.rep.S3Split, e)
	}
}
