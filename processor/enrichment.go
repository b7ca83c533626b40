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

// openEnrichment builds the enricher cfg asks for, opening the GeoIP
// database when cfg names one. The workers of a processor share it; close
// the returned GeoIP (nil without one) when they have stopped.
func openEnrichment(cfg config.Processor) (*enrich.Enricher, *enrich.GeoIP, error) {
	opts := enrichOptions(cfg)
	if cfg.GeoIPDB != "" {
		g, err := enrich.OpenGeoIP(cfg.GeoIPDB)
		if err != nil {
			return nil, nil, err
		}
		opts.Geo = g
	}
	return enrich.New(opts), opts.Geo, nil
}
