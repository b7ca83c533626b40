package config

import (
	"errors"
	"regexp"
	"slices"
	"time"
)

// Processor configures the Kafka to ClickHouse workers.
type Processor struct {
	// Group is the Kafka consumer group. Default trackstream-processor.
	Group string
	// InstanceID, when set, makes the workers static group members
	// (<InstanceID>-<worker>): a restarted process takes its partitions
	// back at once instead of waiting out its old session. Give each
	// processor process its own stable id (e.g. the pod name of a
	// StatefulSet). Default none; the all role defaults to
	// AllInstanceID.
	InstanceID string
	// Workers is the number of consumer group members this process runs;
	// they share one ClickHouse store. Default 1.
	Workers int
	// BatchRows flushes a batch at this many rows. Default 50000.
	BatchRows int
	// BatchBytes flushes a batch when its record values reach this many
	// bytes; it also bounds each Kafka fetch. Default 16 MiB.
	BatchBytes int
	// BatchAge flushes a batch this long after its first row. Default 1s.
	BatchAge time.Duration
	// Enrich lists the enrichments to apply: user-agent (browser, OS,
	// device, bot flag), url (host, path, query, UTM, click ids), referrer
	// (host and medium). Default all three; empty or "none" for none.
	Enrich []string
	// InsertBackoffMax caps the wait between retries of a failed insert.
	// Default 5s.
	InsertBackoffMax time.Duration
	// LagInterval is how often the consumer lag metric is refreshed.
	// Default 10s.
	LagInterval time.Duration
	// DedupWindow is how far back, by event time, each worker keeps the
	// ids of the events stored from each of its partitions, so that a
	// copy within it is dropped and a new event is known new without
	// looking it up in ClickHouse (older events are looked up). 0 turns
	// the window off: every batch is looked up. Default 48h.
	DedupWindow time.Duration
	// DedupWindowMaxIDs caps the ids the windows of this process hold
	// together (25-38 bytes each); beyond it a partition's window
	// gives up its oldest hours, whose events are then looked up.
	// Default 4,000,000.
	DedupWindowMaxIDs int
	// SessionsFinaliseInterval is how often the session finaliser looks
	// for hours to finalise (a new closed hour, a re-check due, a day
	// with late events). Default 1m.
	SessionsFinaliseInterval time.Duration
	// SessionsFinaliseLateness is how long after an hour's start its
	// session figures are first finalised (the hour and a session
	// timeout must be over); they are re-checked 24 h after the hour's
	// start, when its UTC day is over. 1h to 23h. Default 2h.
	SessionsFinaliseLateness time.Duration
	// FaultInsertErrorsFor is a test fault hook for the end-to-end fault
	// suite: every ClickHouse insert fails (as if the server were down)
	// for this long after the processor started. Default 0 (off).
	FaultInsertErrorsFor time.Duration
	// FaultExitAfterInsert is a test fault hook: the process exits with
	// status 137 right after its n-th successful batch insert, before
	// that batch's offsets are committed (a crash between insert and
	// commit). Default 0 (off).
	FaultExitAfterInsert int
}

// AllInstanceID is the processor's static group member id in the all
// role (one process per data directory, so one stable id).
const AllInstanceID = "trackstream-all"

// Faulty reports whether a test fault hook is on.
func (c Processor) Faulty() bool { return c.FaultInsertErrorsFor > 0 || c.FaultExitAfterInsert > 0 }

// Enrichments a processor can apply (Processor.Enrich).
const (
	EnrichUserAgent = "user-agent"
	EnrichURL       = "url"
	EnrichReferrer  = "referrer"
)

// Enabled reports whether the enrichment named e is on.
func (c Processor) Enabled(e string) bool { return slices.Contains(c.Enrich, e) }

func defaultProcessor() Processor {
	return Processor{
		Group: "trackstream-processor", Workers: 1, BatchRows: 50_000, BatchBytes: 16 << 20, BatchAge: time.Second,
		Enrich:           []string{EnrichUserAgent, EnrichURL, EnrichReferrer},
		InsertBackoffMax: 5 * time.Second, LagInterval: 10 * time.Second,
		DedupWindow: 48 * time.Hour, DedupWindowMaxIDs: 4_000_000,
		SessionsFinaliseInterval: time.Minute, SessionsFinaliseLateness: 2 * time.Hour,
	}
}

func (c *Processor) fields() []field {
	return []field{
		{"processor-group", secProcessor, false, "Kafka consumer group of the processors", (*stringValue)(&c.Group)},
		{"processor-instance-id", secProcessor, false, "stable id of this processor process for static group membership (e.g. the pod name); empty: dynamic membership (the all role: trackstream-all)", (*stringValue)(&c.InstanceID)},
		{"processor-workers", secProcessor, false, "consumer group members in this process, sharing one ClickHouse store", (*intValue)(&c.Workers)},
		{"processor-batch-rows", secProcessor, false, "rows that flush a ClickHouse insert", (*intValue)(&c.BatchRows)},
		{"processor-batch-bytes", secProcessor, false, "record bytes that flush a ClickHouse insert (also bounds a Kafka fetch)", (*intValue)(&c.BatchBytes)},
		{"processor-batch-age", secProcessor, false, "age of a batch's first row that flushes it", (*durationValue)(&c.BatchAge)},
		{"processor-enrich", secProcessor, false, "enrichments: user-agent,url,referrer (empty or none: none)", (*listValue)(&c.Enrich)},
		{"processor-insert-backoff-max", secProcessor, false, "longest wait between retries of a failed ClickHouse insert", (*durationValue)(&c.InsertBackoffMax)},
		{"processor-lag-interval", secProcessor, false, "how often the consumer lag metric is refreshed", (*durationValue)(&c.LagInterval)},
		{"processor-dedup-window", secProcessor, false, "event-time span of the per-partition window of stored event ids that drops copies without a ClickHouse lookup (older events are looked up); 0: off, every batch looked up", (*durationValue)(&c.DedupWindow)},
		{"processor-dedup-window-max-ids", secProcessor, false, "ids the dedup windows of this process hold at most (25-38 bytes each); beyond it the oldest hours are looked up instead", (*intValue)(&c.DedupWindowMaxIDs)},
		{"processor-sessions-finalise-interval", secProcessor, false, "how often the session finaliser looks for closed hours, re-checks and days with late events", (*durationValue)(&c.SessionsFinaliseInterval)},
		{"processor-sessions-finalise-lateness", secProcessor, false, "how long after an hour's start its session figures are first finalised (1h-23h; re-checked 24h after its start)", (*durationValue)(&c.SessionsFinaliseLateness)},
		{"fault-insert-errors-for", secProcessor, false, "TEST ONLY fault hook: every ClickHouse insert fails for this long after start; 0: off", (*durationValue)(&c.FaultInsertErrorsFor)},
		{"fault-exit-after-insert", secProcessor, false, "TEST ONLY fault hook: exit with status 137 right after the n-th successful insert, before its commit; 0: off", (*intValue)(&c.FaultExitAfterInsert)},
	}
}

var instanceIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,200}$`)

func (c Processor) validate(errs *[]error) {
	if c.Group == "" {
		errorf(errs, "TRACKSTREAM_PROCESSOR_GROUP: must not be empty")
	}
	checkRange(errs, "TRACKSTREAM_PROCESSOR_WORKERS", c.Workers, 1, 64)
	if c.InstanceID != "" && !instanceIDPattern.MatchString(c.InstanceID) {
		errorf(errs, "TRACKSTREAM_PROCESSOR_INSTANCE_ID: %q: want 1-200 of [A-Za-z0-9_.-]", c.InstanceID)
	}
	checkRange(errs, "TRACKSTREAM_PROCESSOR_BATCH_ROWS", c.BatchRows, 1, 1_000_000)
	checkRange(errs, "TRACKSTREAM_PROCESSOR_BATCH_BYTES", c.BatchBytes, 1<<10, 256<<20)
	checkPositive(errs, "TRACKSTREAM_PROCESSOR_BATCH_AGE", c.BatchAge)
	for _, e := range c.Enrich {
		if e != EnrichUserAgent && e != EnrichURL && e != EnrichReferrer && e != "none" {
			errorf(errs, "TRACKSTREAM_PROCESSOR_ENRICH: unknown enrichment %q (want user-agent, url, referrer or none)", e)
		}
	}
	checkPositive(errs, "TRACKSTREAM_PROCESSOR_INSERT_BACKOFF_MAX", c.InsertBackoffMax)
	checkPositive(errs, "TRACKSTREAM_PROCESSOR_LAG_INTERVAL", c.LagInterval)
	if c.DedupWindow < 0 {
		errorf(errs, "TRACKSTREAM_PROCESSOR_DEDUP_WINDOW: %s must be 0 (off) or positive", c.DedupWindow)
	}
	checkRange(errs, "TRACKSTREAM_PROCESSOR_DEDUP_WINDOW_MAX_IDS", c.DedupWindowMaxIDs, 1, 1_000_000_000)
	checkPositive(errs, "TRACKSTREAM_PROCESSOR_SESSIONS_FINALISE_INTERVAL", c.SessionsFinaliseInterval)
	if c.SessionsFinaliseLateness < time.Hour || c.SessionsFinaliseLateness > 23*time.Hour {
		errorf(errs, "TRACKSTREAM_PROCESSOR_SESSIONS_FINALISE_LATENESS: %s is out of range 1h-23h", c.SessionsFinaliseLateness)
	}
	if c.FaultInsertErrorsFor < 0 {
		errorf(errs, "TRACKSTREAM_FAULT_INSERT_ERRORS_FOR: %s must be 0 (off) or positive", c.FaultInsertErrorsFor)
	}
	if c.FaultExitAfterInsert < 0 {
		errorf(errs, "TRACKSTREAM_FAULT_EXIT_AFTER_INSERT: %d must be 0 (off) or positive", c.FaultExitAfterInsert)
	}
}

// Validate checks the processor section alone and returns every problem
// joined; processor.New refuses a configuration that fails it.
func (c Processor) Validate() error {
	var errs []error
	c.validate(&errs)
	return errors.Join(errs...)
}
