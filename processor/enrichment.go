package processor

import (
	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/enrich"
)

func enrichOptions(cfg config.Processor) enrich.Options {
	return enrich.Options{
		UserAgent: cfg.Enabled(config.EnrichUserAgent),
		URL:       cfg.Enabled(config.EnrichURL),
		Referrer:  cfg.Enabled(config.EnrichReferrer),
	}
}

// newEnricher builds the enricher cfg asks for. geo (nil for none) places
// the events that arrive without a country looked up by ingest. The
// workers of a processor share it.
func newEnricher(cfg config.Processor, geo *enrich.GeoIP) *enrich.Enricher {
	opts := enrichOptions(cfg)
	opts.Geo = geo
	return enrich.New(opts)
}
