package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/trackstream/trackstream/internal/store"
)

// Environment variables of the test fault hooks. They exist for the
// end-to-end fault suite, which runs the real binary; they are off unless
// set, and a process that has one set says so loudly at start.
const (
	// FaultInsertErrorsFor makes every ClickHouse insert fail (as if the
	// server were down) for this duration after the process started,
	// e.g. "20s".
	FaultInsertErrorsFor = "TRACKSTREAM_FAULT_INSERT_ERRORS_FOR"
	// FaultExitAfterInsert makes the process exit with status 137 right
	// after its n-th successful batch insert, before that batch's offsets
	// are committed (a crash between insert and commit), e.g. "3".
	FaultExitAfterInsert = "TRACKSTREAM_FAULT_EXIT_AFTER_INSERT"
)

// ErrInjected is the error of inserts failed by FaultInsertErrorsFor.
var ErrInjected = errors.New("injected fault: " + FaultInsertErrorsFor + " is set")

// Faults are the test fault hooks of one process, shared by its workers.
type Faults struct {
	insertErrorsUntil time.Time
	exitAfter         int64
	inserts           atomic.Int64
	exit              func(code int)
}

// FaultsFromEnv reads the fault variables through getenv. It returns nil
// when none is set.
func FaultsFromEnv(getenv func(string) string, now time.Time) (*Faults, error) {
	f := &Faults{exit: os.Exit}
	on := false
	if v := getenv(FaultInsertErrorsFor); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive duration such as 20s", FaultInsertErrorsFor, v)
		}
		f.insertErrorsUntil, on = now.Add(d), true
	}
	if v := getenv(FaultExitAfterInsert); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%s=%q: want a positive number of inserts", FaultExitAfterInsert, v)
		}
		f.exitAfter, on = n, true
	}
	if !on {
		return nil, nil
	}
	return f, nil
}

// Describe is the fault settings for the start-up warning.
func (f *Faults) Describe() []any {
	return []any{FaultInsertErrorsFor, f.insertErrorsUntil.Format(time.RFC3339), FaultExitAfterInsert, f.exitAfter}
}

// wrap makes s fail every insert until insertErrorsUntil.
func (f *Faults) wrap(s Sink) Sink {
	if f.insertErrorsUntil.IsZero() {
		return s
	}
	return faultySink{s: s, until: f.insertErrorsUntil}
}

// inserted counts a successful batch insert and exits the process with
// status 137 at the configured count.
func (f *Faults) inserted(log *slog.Logger) {
	if f.exitAfter == 0 {
		return
	}
	if n := f.inserts.Add(1); n == f.exitAfter {
		log.Error("injected fault: exiting with status 137 after an insert, before its commit", FaultExitAfterInsert, n)
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
