package ingest

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

// metrics are ingest's own metrics; franz-go's come through kprom.
type metrics struct {
	requests        *prometheus.CounterVec
	events          *prometheus.CounterVec
	rejected        *prometheus.CounterVec
	rateLimited     prometheus.Counter
	requestDuration *prometheus.HistogramVec
	produceDuration prometheus.Histogram
	produceErrors   prometheus.Counter
	bodyBytes       prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, producer *kgo.Client) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trackstream_ingest_requests_total",
			Help: "Requests answered, by route and status class.",
		}, []string{"route", "status"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trackstream_ingest_events_total",
			Help: "Events by outcome: accepted (acknowledged by Kafka) or rejected (invalid).",
		}, []string{"outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trackstream_ingest_events_rejected_total",
			Help: "Rejected events by reason: invalid_field, missing_field, too_large, schema, unknown_type.",
		}, []string{"reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_ingest_rate_limited_requests_total",
			Help: "Requests answered 429 because their source was over its rate limit.",
		}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "trackstream_ingest_request_duration_seconds",
			Help:    "Time from receiving a request to answering it, by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 15),
		}, []string{"route"}),
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
			Help:    "Size of tracking request bodies once decompressed.",
			Buckets: prometheus.ExponentialBuckets(256, 4, 8),
		}),
	}
	for _, code := range rejectionCodes {
		m.rejected.WithLabelValues(code) // every reason is exported from the start
	}
	buffered := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "trackstream_ingest_producer_buffered_bytes",
		Help: "Bytes of records the producer holds that Kafka has not acknowledged yet.",
	}, func() float64 { return float64(producer.BufferedProduceBytes()) })
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.events, m.rejected, m.rateLimited, m.requestDuration, m.produceDuration, m.produceErrors, m.bodyBytes, buffered} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}
