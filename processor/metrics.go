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
	// Several workers of one process share the metrics: the first
	// registers them, the others reuse what is registered.
	var errs []error
	m.consumed = reuse(reg, m.consumed, &errs)
	m.batchRows = reuse(reg, m.batchRows, &errs)
	m.rowsInserted = reuse(reg, m.rowsInserted, &errs)
	m.insertDuration = reuse(reg, m.insertDuration, &errs)
	m.insertErrors = reuse(reg, m.insertErrors, &errs)
	m.commitErrors = reuse(reg, m.commitErrors, &errs)
	m.deadLetters = reuse(reg, m.deadLetters, &errs)
	return m, errors.Join(errs...)
}

// reuse registers c, or returns the equal collector already registered.
func reuse[C prometheus.Collector](reg prometheus.Registerer, c C, errs *[]error) C {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	if err != nil {
		*errs = append(*errs, err)
	}
	return c
}
