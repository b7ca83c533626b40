package finalise

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the finaliser's Prometheus series.
type metrics struct {
	until, lag         prometheus.Gauge
	hours, corrections prometheus.Counter
	errors             prometheus.Counter
	expired            prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		until: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trackstream_processor_sessions_finalised_until_seconds",
			Help: "End of the newest hour whose session figures are finalised (unix seconds); sessions started later are grouped at query time.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trackstream_processor_sessions_finalise_lag_seconds",
			Help: "Seconds from the end of the newest finalised hour to the last pass (about lateness + 1h when current).",
		}),
		hours: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_sessions_finalised_hours_total",
			Help: "Hours whose session figures a pass (re)computed.",
		}),
		corrections: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_sessions_finalise_corrections_total",
			Help: "Finalised hours whose session figures a later pass changed (late events, sessions that went on after the first pass).",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trackstream_processor_sessions_finalise_errors_total",
			Help: "Finaliser passes that failed (retried at the next interval).",
		}),
		expired: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trackstream_processor_sessions_finalise_expired_days",
			Help: "Days the last pass left alone although they needed one (late events, hours never finalised): some of their raw events may have expired under the events TTL.",
		}),
	}
	for _, c := range []prometheus.Collector{m.until, m.lag, m.hours, m.corrections, m.errors, m.expired} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register session finaliser metrics: %w", err)
		}
	}
	return m, nil
}
