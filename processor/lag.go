package processor

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/trackstream/trackstream/internal/kafka"
)

// lagTimeout bounds one lag refresh.
const lagTimeout = 5 * time.Second

// reportLag refreshes the consumer lag gauge every LagInterval until ctx
// ends: for each partition of the events topic, its end offset minus the
// group's committed offset (from the start offset when nothing is
// committed). It asks the brokers rather than counting fetched records so
// that the lag keeps growing while fetching is paused.
func (p *Processor) reportLag(ctx context.Context, cl *kgo.Client) {
	adm := kadm.NewClient(cl)
	t := time.NewTicker(p.cfg.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		reqCtx, cancel := context.WithTimeout(ctx, lagTimeout)
		lags, err := adm.Lag(reqCtx, p.cfg.Group)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Debug("consumer lag not refreshed", "error", err)
			}
			continue
		}
		lags.Each(func(l kadm.DescribedGroupLag) {
			for part, ml := range l.Lag[kafka.EventsTopic] {
				if ml.Err == nil {
					p.m.setLag(part, ml.Lag)
				}
			}
		})
	}
}
