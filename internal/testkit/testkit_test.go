package testkit

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPollReturnsOnceTheConditionHolds(t *testing.T) {
	var calls atomic.Int32
	err := Poll(context.Background(), 10*time.Second, func(context.Context) bool { return calls.Add(1) == 3 })
	if err != nil || calls.Load() != 3 {
		t.Fatalf("Poll = %v after %d calls, want nil after 3", err, calls.Load())
	}
}

func TestPollTimesOut(t *testing.T) {
	err := Poll(context.Background(), 20*time.Millisecond, func(context.Context) bool { return false })
	if err == nil || !strings.Contains(err.Error(), "timed out after 20ms") {
		t.Fatalf("Poll of a condition that never holds = %v, want a timeout naming 20ms", err)
	}
}

func TestPollStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Poll(ctx, time.Minute, func(context.Context) bool { return false })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll with a cancelled context = %v, want context.Canceled", err)
	}
}

// fakeT records a failure instead of ending the test.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper()                  {}
func (f *fakeT) Context() context.Context { return context.Background() }
func (f *fakeT) Fatal(args ...any)        { f.failed = args[0].(string) }
func (f *fakeT) Fatalf(string, ...any)    { f.failed = "Fatalf" }

func TestEventuallyNamesWhatItWaitedFor(t *testing.T) {
	f := &fakeT{TB: t}
	Eventually(f, 20*time.Millisecond, "the answer", func() bool { return false }, func() string { return "last seen 41" })
	for _, want := range []string{"timed out after 20ms waiting for the answer", "last seen 41"} {
		if !strings.Contains(f.failed, want) {
			t.Errorf("failure %q does not contain %q", f.failed, want)
		}
	}
	f = &fakeT{TB: t}
	Eventually(f, time.Second, "nothing", func() bool { return true })
	if f.failed != "" {
		t.Errorf("a condition that holds failed the test: %q", f.failed)
	}
}

func TestFindCHDBLibNamesTheFix(t *testing.T) {
	t.Setenv("TRACKSTREAM_CHDB_LIB", t.TempDir()+"/nowhere/libchdb.so")
	_, err := FindCHDBLib()
	if err == nil || !strings.Contains(err.Error(), "nowhere/libchdb.so") || !strings.Contains(err.Error(), "task chdb:fetch") {
		t.Fatalf("FindCHDBLib with a missing library = %v, want the path and how to fetch it", err)
	}
}
