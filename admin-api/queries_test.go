package adminapi

import (
	"context"
	"encoding/json"
)

// QueryJSON lets the routing tests' counterFunc stand in where no
// ClickHouse runs: every statistics query answers no rows. The statistics
// themselves are tested against chDB in stats_test.go.
func (f counterFunc) QueryJSON(context.Context, string, map[string]string, map[string]string) ([]json.RawMessage, error) {
	return nil, nil
}
