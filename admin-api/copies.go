package adminapi

import (
	"net/http"
	"sync"
	"time"

	"github.com/trackstream/trackstream/schemas"
)

// copyHorizonSQL reads the copy horizon (migration 0011): the latest
// receive time of a stored row whose event has another stored row, NULL
// when no event has.
const copyHorizonSQL = "SELECT count() AS n, toUnixTimestamp64Milli(max(received_before)) AS ms FROM " + schemas.Database + ".copy_horizon"

// copyHorizon is the copy horizon, read once: migration 0011 writes it
// before any admin API may start (the API requires every migration), and
// nothing changes it afterwards.
type copyHorizon struct {
	mu    sync.Mutex
	after *time.Time
}

// knowCopies sets f.uniqueAfter to the copy horizon, reading it on first
// use. A failed read, or a table without its row (not expected once the
// migration is recorded), leaves f.uniqueAfter nil (every row counted by
// distinct id) and is tried again by the next request.
func (s *Server) knowCopies(r *http.Request, f *filter) error {
	s.copies.mu.Lock()
	defer s.copies.mu.Unlock()
	if s.copies.after == nil {
		rows, err := runQuery[struct {
			N  uint64 `json:"n"`
			MS *int64 `json:"ms"`
		}](s, r, query{sql: copyHorizonSQL})
		if err != nil {
			return err
		}
		if len(rows) != 1 || rows[0].N == 0 {
			return nil
		}
		// No copies (NULL): every row is received after the zero time.
		var at time.Time
		if rows[0].MS != nil {
			at = time.UnixMilli(*rows[0].MS).UTC()
		}
		s.copies.after = &at
	}
	f.uniqueAfter = s.copies.after
	return nil
}
