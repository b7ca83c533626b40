package harness

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/trackstream/trackstream/bench/loadgen"
)

// TestCapacitySizeFollowsPerCoreFigures checks the model's arithmetic
// against figures worked out by hand from round per-core rates.
func TestCapacitySizeFollowsPerCoreFigures(t *testing.T) {
	pc := PerCore{IngestSingle: 10_000, IngestBatched: 100_000, Broker: 150_000, Store: 20_000, Insert: 50_000, RecordBytes: 1000, DiskBytes: 50}
	near := func(name string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-9*math.Max(1, math.Abs(want)) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	s := pc.Size(100_000)
	near("ingest cores, single", s.IngestSingleCores, 10)       // 100k / 10k
	near("ingest cores, batched", s.IngestBatchedCores, 1)      // 100k / 100k
	near("Kafka in MB/s", s.KafkaInMBps, 100)                   // 100k x 1000 B
	near("broker cores", s.BrokerCores, 2)                      // 100k x 3 / 150k
	near("store cores", s.StoreCores, 5)                        // 100k / 20k
	near("insert cores", s.InsertCores, 2)                      // 100k / 50k
	near("processor cores", s.ProcessorCores, 3)                // 5 - 2
	near("dedup MB, 3 h", s.DedupMinMB, 32_400)                 // 100k x 10,800 s x 30 B
	near("dedup MB, 49 h", s.DedupFullMB, 529_200)              // 100k x 176,400 s x 30 B
	near("dedup ids per member", s.DedupMinIDsPerMember, 120e6) // 1.08G / 9
	near("disk GB/day", s.DiskGBPerDay, 432)                    // 100k x 86,400 x 50 B
	if s.Brokers != 3 || s.Members != 9 || s.Partitions != 18 || s.Shards != 1 {
		// brokers: 2 / 0.6 / 8 -> 1, at least 3; members: 5 / 0.6 = 8.3 -> 9;
		// partitions: 2 x 9 = 18; shards: 2 / 0.6 / 16 -> 1
		t.Errorf("brokers %d, members %d, partitions %d, shards %d; want 3, 9, 18, 1", s.Brokers, s.Members, s.Partitions, s.Shards)
	}
	s = pc.Size(1_000_000)
	if s.Brokers != 5 || s.Members != 84 || s.Partitions != 168 || s.Shards != 3 {
		// brokers: 20 / 0.6 / 8 = 4.2 -> 5; members: 50 / 0.6 = 83.3 -> 84;
		// partitions: 168; shards: 20 / 0.6 / 16 = 2.1 -> 3
		t.Errorf("at 1M: brokers %d, members %d, partitions %d, shards %d; want 5, 84, 168, 3", s.Brokers, s.Members, s.Partitions, s.Shards)
	}
	s = pc.Size(1_000)
	if s.Brokers != 3 || s.Members != 1 || s.Partitions != 6 || s.Shards != 1 {
		t.Errorf("at 1k: brokers %d, members %d, partitions %d, shards %d; want the floors 3, 1, 6, 1", s.Brokers, s.Members, s.Partitions, s.Shards)
	}
	// Not measured stays not measured: no brokers or shards out of nothing.
	if s := (PerCore{Store: 20_000}).Size(100_000); s.Brokers != 0 || s.Shards != 0 || s.InsertCores != 0 || s.ProcessorCores != 0 {
		t.Errorf("unmeasured broker and insert rates gave brokers %d, shards %d, insert %v, processor %v; want zeros", s.Brokers, s.Shards, s.InsertCores, s.ProcessorCores)
	}
}

// TestCapacityInputsComeFromTheRun checks that the model reads its
// per-core figures from the report's own measurements, and that the
// rendered model says what it extrapolates.
func TestCapacityInputsComeFromTheRun(t *testing.T) {
	run := func(eps, perCore, broker float64) Run {
		return Run{Result: loadgen.Result{EPS: eps}, PerCoreEPS: perCore, BrokerCores: broker}
	}
	r := &Report{
		S1: Scenario{Runs: []Run{run(9_000, 12_000, 0.1), run(10_000, 13_000, 0.1), run(11_000, 14_000, 0.1)}},
		S2: Scenario{Runs: []Run{run(150_000, 110_000, 0.05)}},
		C:  &InsertResult{RowsPerCPUS: 49_500},
		S6: &SizeResult{BytesPerRow: 70},
		S3Split: []EndToEnd{
			{Batch: 1, OfferedEPS: 20_000, Stored: 1_000, Processes: []ProcessCPU{{Name: splitStoreRole, CPUSeconds: 1}}},
			{Batch: 50, OfferedEPS: 40_000, Stored: 400_000, RecordBytes: 950, Processes: []ProcessCPU{
				{Name: "ingest", CPUSeconds: 4}, {Name: splitStoreRole, CPUSeconds: 20}, {Name: "apache kafka", CPUSeconds: 2},
			}},
		},
	}
	pc := r.PerCore()
	want := PerCore{IngestSingle: 13_000, IngestBatched: 110_000, Broker: 200_000, Store: 20_000, Insert: 49_500, RecordBytes: 950, DiskBytes: 70}
	pc.BrokerSource, pc.StoreSource = "", ""
	if pc != want {
		t.Errorf("per-core figures\n got %+v\nwant %+v", pc, want)
	}
	var b strings.Builder
	r.writeCapacity(func(f string, a ...any) { fmt.Fprintf(&b, f, a...) })
	md := b.String()
	for _, s := range []string{"**extrapolated**", "| ingest cores, single events per request | 0.8 | 7.7 | 76.9 |", "| of which the ClickHouse insert (ceiling C) | 0.2 | 2.0 | 20.2 |"} {
		if !strings.Contains(md, s) {
			t.Errorf("rendered model lacks %q:\n%s", s, md)
		}
	}
}

// TestS3SplitMergesAndRendersPerProcessCPU checks that a run with -only
// s3split replaces only S3 split's results, and that the report gives each
// process's CPU.
func TestS3SplitMergesAndRendersPerProcessCPU(t *testing.T) {
	prev := &Report{S3: []EndToEnd{{Batch: 50, OfferedEPS: 20_000, Stored: 7}}}
	cur := &Report{S3Split: []EndToEnd{{Batch: 50, OfferedEPS: 40_000, Stored: 400_000, Run: Run{BrokerCores: 0.4}, Processes: []ProcessCPU{
		{Name: "ingest", LoadCores: 0.35, CPUSeconds: 4}, {Name: splitStoreRole, LoadCores: 1.2, CPUSeconds: 20}, {Name: "apache kafka", LoadCores: 0.4, CPUSeconds: 2},
	}}}}
	skip, err := ParseSkip("", "s3split")
	if err != nil {
		t.Fatal(err)
	}
	m := Merge(prev, cur, skip)
	if len(m.S3) != 1 || m.S3[0].Stored != 7 || len(m.S3Split) != 1 {
		t.Fatalf("merge -only s3split: S3 %+v, S3 split %d runs", m.S3, len(m.S3Split))
	}
	var b strings.Builder
	if err := m.WriteMarkdown(&b, "x.svg", "cmd", ""); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, s := range []string{
		"| batch 50 at 40k events/s | processor,admin-api | 1.20 | 20.0 | 20000 |",
		"| batch 50 at 40k events/s | apache kafka | 0.40 | 2.0 | 200000 |",
		"| S3 split | batch 50 |",
	} {
		if !strings.Contains(md, s) {
			t.Errorf("report lacks %q", s)
		}
	}
}
