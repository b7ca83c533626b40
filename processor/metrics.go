package processor

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// maxLagPartitions bounds the partition label of the lag gauge.
const maxLagPartitions = 1024

type metrics struct {
	consumed       prometheus.Counter
	batchRows      prometheus.Histogram
	batchBytes     prometheus.Histogram
	rowsInserted   prometheus.Counter
	copiesDropped  prometheus.Counter
	insertDuration prometheus.Histogram
	insertErrors   prometheus.Counter
	retries        prometheus.Counter
	splits         prometheus.Counter
	commitDuration prometheus.Histogram
	commitErrors   prometheus.Counter
	deadLetters    *prometheus.CounterVec
	lag            *prometheus.GaugeVec
	freshness      prometheus.Histogram
	lookupIDs      prometheus.Counter
	rebuilds       *prometheus.CounterVec
	rebuildSeconds prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, b *budget) (*metrics, error) {
	m := &metrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_records_consumed_total",
			Help: "Records read from the events topic.",
		}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_processor_batch_rows",
			Help:    "Rows per ClickHouse insert batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		batchBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_processor_batch_bytes",
			Help:    "Record bytes per ClickHouse insert batch.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),
		rowsInserted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_rows_inserted_total",
			Help: "Rows in successful ClickHouse inserts (retried events count each time they are inserted).",
		}),
		copiesDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_copies_dropped_total",
			Help: "Events dropped before insert because the same source and event id was earlier in the batch or already stored (client resends, replays).",
		}),
		insertDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_processor_insert_duration_seconds",
			Help:    "Time of one ClickHouse insert attempt.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		insertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_insert_errors_total",
			Help: "Failed ClickHouse insert attempts (retried, or split when ClickHouse rejected rows).",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_insert_retries_total",
			Help: "Inserts retried with the same deduplication token after a failure.",
		}),
		splits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_batch_splits_total",
			Help: "Batches split in two to isolate rows ClickHouse rejected.",
		}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_processor_commit_duration_seconds",
			Help:    "Time of one offset commit.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_commit_errors_total",
			Help: "Offset commits that failed after a successful insert.",
		}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trackstream_processor_dead_letters_total",
			Help: "Records parked in the dead-letter topic, by reason (undecodable, unknown_format, rejected_by_clickhouse, rejected_unisolated).",
		}, []string{"reason"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trackstream_processor_consumer_lag_records",
			Help: "Records of the events topic not yet committed by the consumer group, by partition (refreshed every processor-lag-interval).",
		}, []string{"partition"}),
		freshness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_processor_freshness_seconds",
			Help:    "End-to-end delay of stored events: insert time minus ingest receive time.",
			Buckets: []float64{0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600},
		}),
		lookupIDs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_dedup_lookup_ids_total",
			Help: "Event ids looked up in ClickHouse (trackstream.event_ids) because the dedup window could not decide them (older than the window, no client time, window not built or over its cap).",
		}),
		rebuilds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trackstream_processor_dedup_window_rebuilds_total",
			Help: "Dedup window rebuilds from ClickHouse on partition assignment, by result (ok, partial: stopped early, its older hours looked up; failed: not built, every event of those partitions looked up).",
		}, []string{"result"}),
		rebuildSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_processor_dedup_window_rebuild_seconds",
			Help:    "Time of one dedup window rebuild on partition assignment.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 13),
		}),
	}
	for _, c := range []prometheus.Collector{m.consumed, m.batchRows, m.batchBytes, m.rowsInserted, m.copiesDropped, m.insertDuration, m.insertErrors,
		m.retries, m.splits, m.commitDuration, m.commitErrors, m.deadLetters, m.lag, m.freshness, m.lookupIDs, m.rebuilds, m.rebuildSeconds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trackstream_processor_dedup_window_ids",
			Help: "Event ids the dedup windows of this process hold (capped by processor-dedup-window-max-ids).",
		}, func() float64 { return float64(b.ids.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "trackstream_processor_dedup_window_bytes",
			Help: "Bytes of the dedup windows' hash tables in this process.",
		}, func() float64 { return float64(b.bytes.Load()) }),
	} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register processor metrics: %w", err)
		}
	}
	for _, r := range []string{"ok", "partial", "failed"} {
		m.rebuilds.WithLabelValues(r) // export zeros
	}
	for _, r := range Reasons {
		m.deadLetters.WithLabelValues(r) // export zeros
	}
	return m, nil
}

func (m *metrics) setLag(partition int32, lag int64) {
	if partition < 0 || partition >= maxLagPartitions {
		return
	}
	m.lag.WithLabelValues(strconv.Itoa(int(partition))).Set(float64(max(lag, 0)))
}

func (m *metrics) forgetPartition(partition int32) {
	m.lag.DeleteLabelValues(strconv.Itoa(int(partition)))
}
