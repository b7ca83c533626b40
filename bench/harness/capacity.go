package harness

import (
	"fmt"
	"math"
	"strings"
)

// The capacity model's assumptions: what is not measured by the harness.
// docs/benchmarks.md prints them beside the model.
const (
	// planUtilisation is the share of a core the model plans each role to
	// use: headroom for bursts, merges, queries and a lost node.
	planUtilisation = 0.6
	// replicationFactor is Kafka's replication of trackstream.events in
	// production; a follower's write is assumed to cost what the
	// leader's does.
	replicationFactor = 3
	// minBrokers is the smallest Kafka cluster that survives a broker.
	minBrokers = 3
	// coresPerBroker and coresPerShard are the machine sizes the model
	// counts brokers and ClickHouse shards in.
	coresPerBroker = 8
	coresPerShard  = 16
	// defaultPartitions is TRACKSTREAM_KAFKA_PARTITIONS's default.
	defaultPartitions = 6
	// partitionsPerMember is the partitions planned per processor member:
	// room to add members without changing the partition count (which
	// would move visitors to other partitions, and so out of the dedup
	// windows that hold their ids).
	partitionsPerMember = 2
	// dedupBytesPerID is the processor's dedup window memory per id held
	// (README: 30 MB per million ids, BenchmarkWindow at one million).
	dedupBytesPerID = 30
	// dedupWindowHours is TRACKSTREAM_PROCESSOR_DEDUP_WINDOW's default
	// (48 h) plus the window's hour of slack.
	dedupWindowHours = 49
	// dedupMinHours is the newest hours a window must hold to decide
	// anything (README: the default cap of 4 million ids decides for up
	// to about 1.3 million events an hour per processor).
	dedupMinHours = 3
	// dedupDefaultCap is TRACKSTREAM_PROCESSOR_DEDUP_WINDOW_MAX_IDS's
	// default.
	dedupDefaultCap = 4_000_000
)

// capacityRates are the sustained rates the model sizes, events per second.
var capacityRates = []float64{10_000, 100_000, 1_000_000}

// PerCore is what the capacity model is computed from: the measured
// per-core figures of each role, each with where it was measured. A zero
// rate was not measured.
type PerCore struct {
	// IngestSingle and IngestBatched are events per ingest CPU-second
	// with one event per request (S1) and batches of 50 (S2).
	IngestSingle, IngestBatched float64
	// Broker is events per broker CPU-second.
	Broker       float64
	BrokerSource string
	// Store is events stored per CPU-second of the process that stores
	// them (processor with its embedded chDB insert, S3 split).
	Store       float64
	StoreSource string
	// Insert is rows per CPU-second of the ClickHouse insert alone
	// (ceiling C).
	Insert float64
	// RecordBytes is the mean Kafka record value; DiskBytes the bytes per
	// event on disk after merges (S6).
	RecordBytes, DiskBytes float64
}

// Sizing is the model's answer for one sustained rate. Cores are what the
// work needs at the measured per-core rates; the counts (brokers,
// members, partitions, shards) are planned at planUtilisation.
type Sizing struct {
	EPS float64
	// IngestSingleCores and IngestBatchedCores: ingest with one event per
	// request and with batches of 50.
	IngestSingleCores, IngestBatchedCores float64
	// KafkaInMBps is the record bytes produced per second, before
	// compression and replication.
	KafkaInMBps float64
	// BrokerCores is the brokers' CPU with replicationFactor copies.
	BrokerCores float64
	Brokers     int
	// StoreCores is the processor with its insert, as S3 split measured
	// it; InsertCores the insert alone (ceiling C), which a ClickHouse
	// server would take; ProcessorCores the rest (decode, enrichment,
	// dedup, encoding), 0 when not separable.
	StoreCores, InsertCores, ProcessorCores float64
	// Members is processor consumer-group members, one core each at most;
	// Partitions of trackstream.events; Shards of ClickHouse. Brokers and
	// Shards are 0 when their per-core rate was not measured.
	Members, Partitions, Shards int
	// DedupMinMB and DedupFullMB are the dedup windows' memory over all
	// processors for the newest dedupMinHours and for the whole default
	// window; DedupMinIDsPerMember is the ids one member's windows hold at
	// the minimum (against the default cap of dedupDefaultCap per process).
	DedupMinMB, DedupFullMB float64
	DedupMinIDsPerMember    float64
	// DiskGBPerDay is the events' bytes after merges per day, before
	// replication.
	DiskGBPerDay float64
}

// planned is the whole number of units of size per that carry need at
// planUtilisation.
func planned(need, per float64) int {
	if need <= 0 || per <= 0 {
		return 0
	}
	return int(math.Ceil(need / planUtilisation / per))
}

// perSecond is eps / rate, or 0 when the rate was not measured.
func perSecond(eps, rate float64) float64 {
	if rate <= 0 {
		return 0
	}
	return eps / rate
}

// Size computes the model for a sustained rate of eps events per second.
func (pc PerCore) Size(eps float64) Sizing {
	s := Sizing{EPS: eps}
	s.IngestSingleCores = perSecond(eps, pc.IngestSingle)
	s.IngestBatchedCores = perSecond(eps, pc.IngestBatched)
	s.KafkaInMBps = eps * pc.RecordBytes / 1e6
	s.BrokerCores = perSecond(eps*replicationFactor, pc.Broker)
	if s.BrokerCores > 0 {
		s.Brokers = max(minBrokers, planned(s.BrokerCores, coresPerBroker))
	}
	s.InsertCores = perSecond(eps, pc.Insert)
	s.StoreCores = perSecond(eps, pc.Store)
	if s.StoreCores > s.InsertCores && s.InsertCores > 0 {
		s.ProcessorCores = s.StoreCores - s.InsertCores
	}
	memberCores := s.StoreCores
	if memberCores == 0 {
		memberCores = s.InsertCores
	}
	s.Members = max(1, planned(memberCores, 1))
	s.Partitions = max(defaultPartitions, roundUp(partitionsPerMember*s.Members, defaultPartitions))
	if s.InsertCores > 0 {
		s.Shards = max(1, planned(s.InsertCores, coresPerShard))
	}
	minIDs := eps * dedupMinHours * 3600
	s.DedupMinMB = minIDs * dedupBytesPerID / 1e6
	s.DedupFullMB = eps * dedupWindowHours * 3600 * dedupBytesPerID / 1e6
	s.DedupMinIDsPerMember = minIDs / float64(s.Members)
	s.DiskGBPerDay = eps * 86400 * pc.DiskBytes / 1e9
	return s
}

// rateLabel is "10k events/s", "1M events/s".
func rateLabel(eps float64) string {
	if eps >= 1e6 {
		return fmt.Sprintf("%gM events/s", eps/1e6)
	}
	return fmt.Sprintf("%gk events/s", eps/1e3)
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int) int { return (n + m - 1) / m * m }

// PerCore collects the model's inputs from the report's own measurements.
func (r *Report) PerCore() PerCore {
	pc := PerCore{IngestSingle: r.S1.Median().PerCoreEPS, IngestBatched: r.S2.Median().PerCoreEPS}
	if s1 := r.S1.Median(); s1.BrokerCores > 0 {
		pc.Broker, pc.BrokerSource = s1.EPS/s1.BrokerCores, "S1, the kfake broker process"
	}
	if r.C != nil {
		pc.Insert = r.C.RowsPerCPUS
	}
	if r.S6 != nil {
		pc.DiskBytes = r.S6.BytesPerRow
	}
	if len(r.K) > 0 {
		pc.RecordBytes = r.K[0].ValueBytes
	}
	// The split run that stored the most: the largest batches the
	// processor formed, so its per-event cost at a sustained high rate.
	var best *EndToEnd
	for i := range r.S3Split {
		e := &r.S3Split[i]
		if e.Stored > 0 && (best == nil || e.Stored > best.Stored) {
			best = e
		}
	}
	if best == nil {
		return pc
	}
	name := fmt.Sprintf("S3 split, batch %d at %.0fk events/s offered", best.Batch, best.OfferedEPS/1000)
	for _, p := range best.Processes {
		switch p.Name {
		case splitStoreRole:
			if v := p.StoredPerCPUS(best.Stored); v > 0 {
				pc.Store, pc.StoreSource = v, name+", the "+splitStoreRole+" process (embedded chDB)"
			}
		case "apache kafka":
			if p.CPUSeconds > 0 {
				pc.Broker, pc.BrokerSource = float64(best.Stored)/p.CPUSeconds, name+", Apache Kafka's JVM (one node, no replication)"
			}
		}
	}
	if best.RecordBytes > 0 {
		pc.RecordBytes = best.RecordBytes
	}
	return pc
}

// writeCapacity renders the capacity model from the report's figures.
func (r *Report) writeCapacity(p func(string, ...any)) {
	pc := r.PerCore()
	p("## Capacity model: 10k, 100k and 1M events/s sustained\n\n")
	p("Computed by the harness (`bench/harness/capacity.go`) from this run's per-core figures, so it changes when they do. Every sizing below is **extrapolated**: arithmetic on per-core rates measured on this %s at a few tens of thousands of events per second, not a run at that rate. ", r.Machine)
	p("Cores are what the work needs at the measured rates; machine counts (brokers, processor members, shards) are planned at %.0f %% of their cores, for bursts, merges, queries and a lost node.\n\n", planUtilisation*100)
	measured := func(v float64, unit, src string) string {
		if v <= 0 {
			return "not measured in this run"
		}
		return fmt.Sprintf("%.0f %s (%s)", v, unit, src)
	}
	p("| input | measured |\n|---|---|\n")
	p("| ingest, single events | %s |\n", measured(pc.IngestSingle, "events per ingest CPU-second", "S1 median"))
	p("| ingest, batches of 50 | %s |\n", measured(pc.IngestBatched, "events per ingest CPU-second", "S2 median"))
	p("| Kafka broker | %s |\n", measured(pc.Broker, "events per broker CPU-second", pc.BrokerSource))
	p("| processor with its embedded chDB insert | %s |\n", measured(pc.Store, "events stored per CPU-second", pc.StoreSource))
	p("| ClickHouse insert alone | %s |\n", measured(pc.Insert, "rows per CPU-second", "ceiling C, chDB"))
	p("| Kafka record | %s |\n", measured(pc.RecordBytes, "B", "mean record value"))
	p("| disk | %s |\n\n", measured(pc.DiskBytes, "B per event after merges", "S6"))
	sizes := make([]Sizing, len(capacityRates))
	for i, eps := range capacityRates {
		sizes[i] = pc.Size(eps)
	}
	row := func(name string, cell func(Sizing) string) {
		cells := make([]string, len(sizes))
		for i, s := range sizes {
			cells[i] = cell(s)
		}
		p("| %s | %s |\n", name, strings.Join(cells, " | "))
	}
	cores := func(c float64) string {
		if c <= 0 {
			return "not measured"
		}
		return fmt.Sprintf("%.1f", c)
	}
	count := func(n int) string {
		if n <= 0 {
			return "not measured"
		}
		return fmt.Sprint(n)
	}
	amount := func(v float64, format string) string {
		if v <= 0 {
			return "not measured"
		}
		return fmt.Sprintf(format, v)
	}
	heads := make([]string, len(sizes))
	for i, s := range sizes {
		heads[i] = rateLabel(s.EPS)
	}
	p("| extrapolated (E) | %s |\n|---%s|\n", strings.Join(heads, " | "), strings.Repeat("|---", len(sizes)))
	row("ingest cores, single events per request", func(s Sizing) string { return cores(s.IngestSingleCores) })
	row("ingest cores, batches of 50", func(s Sizing) string { return cores(s.IngestBatchedCores) })
	row("Kafka in, MB/s before compression and replication", func(s Sizing) string { return amount(s.KafkaInMBps, "%.0f") })
	row(fmt.Sprintf("Kafka broker cores at replication %d", replicationFactor), func(s Sizing) string { return cores(s.BrokerCores) })
	row(fmt.Sprintf("brokers of %d cores (at least %d)", coresPerBroker, minBrokers), func(s Sizing) string { return count(s.Brokers) })
	row("processor + insert cores (embedded chDB, as S3 split measured)", func(s Sizing) string { return cores(s.StoreCores) })
	row("of which the ClickHouse insert (ceiling C)", func(s Sizing) string { return cores(s.InsertCores) })
	row("of which the processor (decode, enrichment, dedup; the difference)", func(s Sizing) string { return cores(s.ProcessorCores) })
	row("processor members (each alternates its batch's decode and its insert's wait: one carries about the S3 split rate)", func(s Sizing) string { return fmt.Sprint(s.Members) })
	row(fmt.Sprintf("partitions of trackstream.events (%d per member, at least %d)", partitionsPerMember, defaultPartitions), func(s Sizing) string { return fmt.Sprint(s.Partitions) })
	row(fmt.Sprintf("ClickHouse shards of %d cores for the insert (before replicas)", coresPerShard), func(s Sizing) string { return count(s.Shards) })
	row(fmt.Sprintf("dedup windows, newest %d hours, all processors", dedupMinHours), func(s Sizing) string { return fmt.Sprintf("%.1f GB", s.DedupMinMB/1000) })
	row("dedup ids per member (one member per process) at that minimum; default cap 4M per process", func(s Sizing) string { return fmt.Sprintf("%.0fM", s.DedupMinIDsPerMember/1e6) })
	row(fmt.Sprintf("dedup windows, the whole default %d h, all processors", dedupWindowHours-1), func(s Sizing) string { return fmt.Sprintf("%.0f GB", s.DedupFullMB/1000) })
	row("disk after merges per day, before replication", func(s Sizing) string { return amount(s.DiskGBPerDay, "%.0f GB") })
	p("\nWhat limits each step (from the figures above):\n\n")
	for _, s := range sizes {
		p("- **%s**: %s\n", rateLabel(s.EPS), s.limits())
	}
	p("\n")
}

// limits says, for one sizing, which role takes the most cores and
// where the dedup window and the partition count stand.
func (s Sizing) limits() string {
	roles := []struct {
		name  string
		cores float64
	}{
		{"ingest of single events", s.IngestSingleCores},
		{"the ClickHouse insert", s.InsertCores},
		{"the processor", s.ProcessorCores},
		{"the brokers", s.BrokerCores},
	}
	largest := func(rs []struct {
		name  string
		cores float64
	}) (string, float64) {
		top := rs[0]
		for _, r := range rs[1:] {
			if r.cores > top.cores {
				top = r
			}
		}
		return top.name, top.cores
	}
	var b strings.Builder
	name, cores := largest(roles)
	fmt.Fprintf(&b, "the largest cost is %s (%.1f cores)", name, cores)
	if name == roles[0].name {
		next, nextCores := largest(roles[1:])
		fmt.Fprintf(&b, "; with clients sending batches of 50, ingest takes %.1f cores and the largest is %s (%.1f)", s.IngestBatchedCores, next, nextCores)
	}
	b.WriteString(". ")
	if s.DedupMinIDsPerMember > dedupDefaultCap {
		fmt.Fprintf(&b, "The dedup window needs %.0fM ids per member for its newest %d hours, over the default cap of 4M: raise TRACKSTREAM_PROCESSOR_DEDUP_WINDOW_MAX_IDS (%.1f GB per member) or every event is looked up in ClickHouse (a cost not measured here). ",
			s.DedupMinIDsPerMember/1e6, dedupMinHours, s.DedupMinIDsPerMember*dedupBytesPerID/1e9)
	} else {
		fmt.Fprintf(&b, "The dedup window's newest %d hours fit the default cap. ", dedupMinHours)
	}
	fmt.Fprintf(&b, "Processor members: %d, so at least as many partitions (%d planned; one member per partition at most). ", s.Members, s.Partitions)
	if s.Shards > 0 {
		fmt.Fprintf(&b, "ClickHouse shards for the insert: %d; ", s.Shards)
	}
	b.WriteString("each shard takes ~1 s batches (50k rows at most) from the members whose rows it holds, so insert parallelism is members x shards, never smaller inserts.")
	return b.String()
}
