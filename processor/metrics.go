package processor

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	consumed       prometheus.Counter
	batchRows      prometheus.Histogram
	rowsInserted   prometheus.Counter
	insertDuration prometheus.Histogram
	insertErrors   prometheus.Counter
	commitErrors   prometheus.Counter
	deadLetters    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		consumed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_records_consumed_total",
			Help: "Records read from the events topic.",
		}),
		batchRows: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_processor_batch_rows",
			Help:    "Rows per ClickHouse insert.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		rowsInserted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_rows_inserted_total",
			Help: "Rows in successful ClickHouse inserts (retried events count each time they are inserted).",
		}),
		insertDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_processor_insert_duration_seconds",
			Help:    "Time of one ClickHouse insert attempt.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		insertErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_insert_errors_total",
			Help: "Failed ClickHouse insert attempts (each is retried).",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_commit_errors_total",
			Help: "Offset commits that failed after a successful insert.",
		}),
		deadLetters: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_dead_letters_total",
			Help: "Records parked in the dead-letter topic.",
		}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.consumed, m.batchRows, m.rowsInserted, m.insertDuration, m.insertErrors, m.commitErrors, m.deadLetters} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}
