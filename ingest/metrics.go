package ingest

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are ingest's own metrics; franz-go's come through kprom.
type metrics struct {
	requests        *prometheus.CounterVec
	events          *prometheus.CounterVec
	requestDuration prometheus.Histogram
	produceDuration prometheus.Histogram
	produceErrors   prometheus.Counter
	bodyBytes       prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trackstream_ingest_requests_total",
			Help: "Requests answered, by route and status class.",
		}, []string{"route", "status"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trackstream_ingest_events_total",
			Help: "Events by outcome: accepted (acknowledged by Kafka) or rejected (invalid).",
		}, []string{"outcome"}),
		requestDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_ingest_request_duration_seconds",
			Help:    "Time from receiving a tracking request to answering 2xx.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}),
		produceDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_ingest_produce_duration_seconds",
			Help:    "Time from handing a request's events to the producer to Kafka's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}),
		produceErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_ingest_produce_errors_total",
			Help: "Requests answered 503 because Kafka did not acknowledge their events.",
		}),
		bodyBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "trackstream_ingest_body_bytes",
			Help:    "Size of tracking request bodies.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 8),
		}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.events, m.requestDuration, m.produceDuration, m.produceErrors, m.bodyBytes} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}
