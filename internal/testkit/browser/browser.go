// Package browser starts Debian's Chromium headless for tests and hands them a
// chromedp tab, so GUI and tracker tests drive a real browser the same way.
//
// The browser is /usr/bin/chromium (Debian's package; `.ci/run` installs it),
// or the path in $TRACKSTREAM_CHROMIUM. A missing browser fails the test with
// a message saying how to install it; it is never a silent skip. Under
// `go test -short` the test is skipped, since a browser start costs seconds.
//
// Each call to New starts its own browser process with a fresh profile
// directory, runs it with the flags that keep it quiet on a build machine
// (no sandbox, as root; no QUIC, background networking, component updates,
// sync or first-run pages, so the only requests it makes are the test's), and
// stops it when the test ends. Further tabs of the same browser come from
// chromedp.NewContext(tab).
package browser

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultPath is where Debian's chromium package installs the browser.
const DefaultPath = "/usr/bin/chromium"

// PathEnv names the environment variable that overrides DefaultPath.
const PathEnv = "TRACKSTREAM_CHROMIUM"

// ExecPath returns the browser to start: $TRACKSTREAM_CHROMIUM, or DefaultPath.
func ExecPath() string {
	if p := os.Getenv(PathEnv); p != "" {
		return p
	}
	return DefaultPath
}

// Options tune the browser New starts. The zero value is usable.
type Options struct {
	// Width and Height are the window size in CSS pixels. Default 1280x900.
	Width, Height int
	// Timeout bounds everything the returned tab does, browser start
	// included. Default 3 minutes.
	Timeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Width <= 0 {
		o.Width = 1280
	}
	if o.Height <= 0 {
		o.Height = 900
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	return o
}

// Flags returns the allocator options New uses: the browser path, headless
// mode and the flags that keep the browser to the test's own requests.
func Flags(execPath, userDataDir string, width, height int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(width, height),
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("headless", "new"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("metrics-recording-only", true),
		chromedp.Flag("password-store", "basic"),
	}
}

// New starts a headless Chromium for t and returns the context of its first
// tab. The browser stops and its profile directory is removed when t ends.
func New(t testing.TB, opts Options) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test: skipped under -short (starts Chromium)")
	}
	opts = opts.withDefaults()
	path := ExecPath()
	if err := checkExecutable(path); err != nil {
		t.Fatalf("browser test needs Chromium: %v; install it with `apt-get install -y chromium` (as .ci/run does) or set %s to a Chromium binary", err, PathEnv)
	}

	ctx, cancelTimeout := context.WithTimeout(context.Background(), opts.Timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, Flags(path, t.TempDir(), opts.Width, opts.Height)...)
	tab, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancelTimeout()
	})
	// Start the browser now, so a browser that cannot start fails here with
	// its own error rather than in the test's first step.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return tab
}

func checkExecutable(path string) error {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s does not exist", path)
	}
	if err != nil {
		return err
	}
	if info.IsDir() || info.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}
