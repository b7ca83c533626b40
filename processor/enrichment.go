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

// OpenEnrichment builds the enricher cfg asks for, opening the GeoIP
// database when cfg names one. Share it between the workers of a process;
// close the returned GeoIP (nil without one) when they have stopped.
func OpenEnrichment(cfg config.Processor) (*enrich.Enricher, *enrich.GeoIP, error) {
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
