package processor

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/trackstream/trackstream/internal/config"
	"github.com/trackstream/trackstream/internal/store"
)

// ErrInjected is the error of inserts failed by the FaultInsertErrorsFor
// test fault hook.
var ErrInjected = errors.New("injected fault: TRACKSTREAM_FAULT_INSERT_ERRORS_FOR is set")

// faultHooks are the test fault hooks of one processor, shared by its workers
// (config.Processor's FaultInsertErrorsFor and FaultExitAfterInsert). They
// exist for the end-to-end fault suite, which runs the real binary; they
// are off unless configured, and a processor with one on says so loudly
// at start.
type faultHooks struct {
	insertErrorsUntil time.Time
	exitAfter         int64
	inserts           atomic.Int64
	exit              func(code int)
}

// newFaults returns the fault hooks cfg switches on, counting from now, or
// nil when none is on.
func newFaults(cfg config.Processor, now time.Time) *faultHooks {
	if !cfg.Faulty() {
		return nil
	}
	f := &faultHooks{exitAfter: int64(cfg.FaultExitAfterInsert), exit: os.Exit}
	if cfg.FaultInsertErrorsFor > 0 {
		f.insertErrorsUntil = now.Add(cfg.FaultInsertErrorsFor)
	}
	return f
}

// describe is the fault settings for the start-up warning.
func (f *faultHooks) describe() []any {
	return []any{"insert_errors_until", f.insertErrorsUntil.Format(time.RFC3339), "exit_after_insert", f.exitAfter}
}

// wrap makes s fail every insert until insertErrorsUntil.
func (f *faultHooks) wrap(s Sink) Sink {
	if f.insertErrorsUntil.IsZero() {
		return s
	}
	return faultySink{s: s, until: f.insertErrorsUntil}
}

// inserted counts a successful batch insert and exits the process with
// status 137 at the configured count.
func (f *faultHooks) inserted(log *slog.Logger) {
	if f.exitAfter == 0 {
		return
	}
	if n := f.inserts.Add(1); n == f.exitAfter {
		log.Error("injected fault: exiting with status 137 after an insert, before its commit", "inserts", n)
		f.exit(137)
	}
}

type faultySink struct {
	s     Sink
	until time.Time
}

func (f faultySink) InsertRows(ctx context.Context, token string, rows []store.Row) error {
	if time.Now().Before(f.until) {
		return ErrInjected
	}
	return f.s.InsertRows(ctx, token, rows)
}

func (f faultySink) Copies(ctx context.Context, rows []store.Row) ([]bool, error) {
	return f.s.Copies(ctx, rows)
}

func (f faultySink) RecentIDs(ctx context.Context, parts []int32, n int, from, to time.Time, fn func(store.RecentID)) error {
	return f.s.RecentIDs(ctx, parts, n, from, to, fn)
}

func (f faultySink) RecentHours(ctx context.Context, parts []int32, n int, from, to time.Time) (map[int64]int, error) {
	return f.s.RecentHours(ctx, parts, n, from, to)
}
