// Package proc builds the trackstream binary and runs its roles as
// separate processes for tests that need the real binary (end to end,
// kill -9, deploy checks): start with TRACKSTREAM_* variables, wait for
// /readyz, kill -9, SIGTERM, restart, and read a process's memory from
// /proc.
package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
)

// Build compiles ./cmd/trackstream of the module at repoRoot into dir and
// returns the binary's path.
func Build(ctx context.Context, repoRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "trackstream")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/trackstream")
	cmd.Dir = repoRoot
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/trackstream in %s: %w\n%s", repoRoot, err, out)
	}
	return bin, nil
}

// RepoRoot walks up from the working directory to the directory holding
// go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Output collects a child's output, bounded to the last max bytes, safe
// for concurrent use.
type Output struct {
	mu  sync.Mutex
	b   []byte
	max int
}

// Write keeps the last max bytes written.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.b = append(o.b, p...)
	if o.max > 0 && len(o.b) > o.max {
		o.b = append(o.b[:0], o.b[len(o.b)-o.max:]...)
	}
	return len(p), nil
}

// String returns what was kept.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return string(o.b)
}

// Spec says how to run one trackstream process.
type Spec struct {
	// Name labels the process in errors and logs, e.g. "ingest-1".
	Name string
	// Bin is the trackstream binary; Role its first argument.
	Bin, Role string
	// Env are TRACKSTREAM_* settings (name=value); HOME and PATH are added.
	Env []string
	// OpsAddr is the process's TRACKSTREAM_OPS_ADDR, polled for /readyz.
	OpsAddr string
}

// Process is a trackstream role running as a child process. Restart runs
// the same Spec again.
type Process struct {
	spec Spec
	out  *Output

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	err  error // exit error, valid once done is closed
}

// Start starts the process and waits up to readyTimeout for /readyz = 200.
func Start(ctx context.Context, spec Spec, readyTimeout time.Duration) (*Process, error) {
	p := &Process{spec: spec, out: &Output{max: 1 << 20}}
	return p, p.Restart(ctx, readyTimeout)
}

// Restart starts the process again (it must have exited) with the same
// Spec, plus extraEnv, and waits for readiness.
func (p *Process) Restart(ctx context.Context, readyTimeout time.Duration, extraEnv ...string) error {
	p.mu.Lock()
	if p.cmd != nil && !p.exitedLocked() {
		p.mu.Unlock()
		return fmt.Errorf("%s is still running (pid %d)", p.spec.Name, p.cmd.Process.Pid)
	}
	cmd := exec.Command(p.spec.Bin, p.spec.Role)
	cmd.Env = append([]string{"HOME=" + os.Getenv("HOME"), "PATH=" + os.Getenv("PATH")}, p.spec.Env...)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout, cmd.Stderr = p.out, p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(p.out, "=== e2e: starting %s (%s) at %s\n", p.spec.Name, p.spec.Role, time.Now().Format(time.RFC3339Nano))
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.spec.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		fmt.Fprintf(p.out, "=== e2e: %s exited: %v\n", p.spec.Name, err)
		close(done)
	}()
	return p.WaitReady(ctx, readyTimeout)
}

func (p *Process) exitedLocked() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Name is the process's label.
func (p *Process) Name() string { return p.spec.Name }

// Output is what the process wrote (stdout and stderr, last MiB).
func (p *Process) Output() string { return p.out.String() }

// PID is the running process's id, or 0.
func (p *Process) PID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.exitedLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Running reports whether the process has not exited.
func (p *Process) Running() bool { return p.PID() != 0 }

// OpsAddr is the process's ops listener (TRACKSTREAM_OPS_ADDR).
func (p *Process) OpsAddr() string { return p.spec.OpsAddr }

// Ready reports whether /readyz answers 200.
func (p *Process) Ready(ctx context.Context) bool { return client.Ready(ctx, p.spec.OpsAddr) }

// WaitReady polls /readyz until 200, the timeout, or the process exits.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	exited := false
	err := testkit.Poll(ctx, timeout, func(ctx context.Context) bool {
		select {
		case <-done:
			exited = true
			return true
		default:
		}
		return p.Ready(ctx)
	})
	switch {
	case exited:
		return fmt.Errorf("%s exited before it was ready: %v\n%s", p.spec.Name, p.exitErr(), tail(p.Output(), 30))
	case err != nil:
		return fmt.Errorf("%s not ready: %w\n%s", p.spec.Name, err, tail(p.Output(), 30))
	}
	return nil
}

func (p *Process) exitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Process) Kill() error {
	_, err := p.signalWait(syscall.SIGKILL, 30*time.Second)
	return err
}

// Terminate sends SIGTERM and waits up to timeout for the exit, returning
// the exit error (nil for a clean exit 0). After the timeout it kills.
func (p *Process) Terminate(timeout time.Duration) error {
	exit, err := p.signalWait(syscall.SIGTERM, timeout)
	if err != nil {
		return errors.Join(err, p.Kill())
	}
	return exit
}

// signalWait returns the process's exit error and an error if it did not
// exit in time.
func (p *Process) signalWait(sig syscall.Signal, timeout time.Duration) (exit, err error) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil, nil
	}
	select {
	case <-done:
		return p.exitErr(), nil
	default:
	}
	fmt.Fprintf(p.out, "=== e2e: sending %v to %s at %s\n", sig, p.spec.Name, time.Now().Format(time.RFC3339Nano))
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return nil, fmt.Errorf("signal %v to %s: %w", sig, p.spec.Name, err)
	}
	select {
	case <-done:
		return p.exitErr(), nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("%s still running %s after %v\n%s", p.spec.Name, timeout, sig, tail(p.Output(), 30))
	}
}

// Memory is a process's resident memory in bytes: now, and the peak since
// it started (VmHWM).
type Memory struct{ RSS, Peak int64 }

// ReadMemory reads /proc/<pid>/status of the running process.
func (p *Process) ReadMemory() (Memory, error) {
	pid := p.PID()
	if pid == 0 {
		return Memory{}, fmt.Errorf("%s is not running", p.spec.Name)
	}
	return ReadMemory(pid)
}

// ReadMemory reads VmRSS and VmHWM of pid from /proc.
func ReadMemory(pid int) (Memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	var m Memory
	for line := range bytes.Lines(b) {
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			m.RSS = kb << 10
		case "VmHWM:":
			m.Peak = kb << 10
		}
	}
	if m.Peak == 0 {
		return m, fmt.Errorf("pid %d: no VmHWM in /proc status", pid)
	}
	return m, nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Tail returns the last n lines of the process's output.
func (p *Process) Tail(n int) string { return tail(p.Output(), n) }
