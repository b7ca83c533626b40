package harness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trackstream/trackstream/internal/testkit"
	"github.com/trackstream/trackstream/internal/testkit/client"
)

// proc is a child process of the harness: a broker, a ceiling server or a
// trackstream role. Its output goes to a log file in the work dir.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// startProc starts bin with args and extra environment, logging to
// logPath. The child dies with the harness (Pdeathsig).
func startProc(name, bin string, args, env []string, logPath string) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("%s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s (%s): %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, log: lf, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and waits up to timeout, then kills.
func (p *proc) stop(timeout time.Duration) error {
	if p.exited() {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s after SIGTERM; killed", p.name, timeout)
	}
}

// signal sends sig (SIGSTOP/SIGCONT for outages).
func (p *proc) signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// logTail returns the end of the process log for error messages.
func (p *proc) logTail() string {
	b, err := os.ReadFile(p.log.Name())
	if err != nil {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitReady polls the ops listener at opsAddr until /readyz answers 200,
// p exits, or timeout passes.
func waitReady(ctx context.Context, p *proc, opsAddr string, timeout time.Duration) error {
	err := testkit.Poll(ctx, timeout, func(ctx context.Context) bool { return p.exited() || client.Ready(ctx, opsAddr) })
	switch {
	case p.exited():
		return fmt.Errorf("%s exited before it was ready: %v\n%s", p.name, p.err, p.logTail())
	case err != nil:
		return fmt.Errorf("%s not ready at %s: %w", p.name, opsAddr, err)
	}
	return nil
}

// allNode is `trackstream all` running as a child of the harness, its
// admin API logged in as the first admin.
type allNode struct {
	p                   *proc
	adm                 *client.Admin
	ingestAddr, opsAddr string
	kafkaAddr           string
}

// startAll starts `trackstream all` on dataDir on free loopback ports,
// with a generated admin password and the extra settings env, waits until
// it is ready and logs in. Its log is <work dir>/<name>.log.
func (h *harness) startAll(ctx context.Context, name, dataDir string, env ...string) (*allNode, error) {
	addrs := make([]string, 4)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return nil, err
		}
		addrs[i] = a
	}
	_, kport, _ := net.SplitHostPort(addrs[3])
	var pw [16]byte
	_, _ = rand.Read(pw[:])
	password := "Bench-" + hex.EncodeToString(pw[:])
	env = append([]string{
		"TRACKSTREAM_DATA_DIR=" + dataDir,
		"TRACKSTREAM_INGEST_ADDR=" + addrs[0],
		"TRACKSTREAM_ADMIN_ADDR=" + addrs[1],
		"TRACKSTREAM_OPS_ADDR=" + addrs[2],
		"TRACKSTREAM_EMBEDDED_KAFKA_PORT=" + kport,
		"TRACKSTREAM_ADMIN_PASSWORD=" + password,
		"TRACKSTREAM_CHDB_LIB=" + h.cfg.LibPath,
		"TRACKSTREAM_LOG_LEVEL=warn",
	}, env...)
	p, err := startProc(name, h.cfg.Bin, []string{"all"}, env, filepath.Join(h.cfg.WorkDir, name+".log"))
	if err != nil {
		return nil, err
	}
	if err := waitReady(ctx, p, addrs[2], 3*time.Minute); err != nil {
		_ = p.stop(time.Minute)
		return nil, err
	}
	adm, err := client.Login(ctx, "http://"+addrs[1], "admin", password)
	if err != nil {
		_ = p.stop(time.Minute)
		return nil, err
	}
	return &allNode{p: p, adm: adm, ingestAddr: addrs[0], opsAddr: addrs[2], kafkaAddr: "127.0.0.1:" + kport}, nil
}

// waitLine waits for a line starting with prefix in the process log and
// returns the rest of it (how child helpers announce their address).
func waitLine(p *proc, prefix string, timeout time.Duration) (string, error) {
	var line string
	err := testkit.Poll(context.Background(), timeout, func(context.Context) bool {
		if b, err := os.ReadFile(p.log.Name()); err == nil {
			sc := bufio.NewScanner(bytes.NewReader(b))
			for sc.Scan() {
				if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
					line = strings.TrimSpace(rest)
					return true
				}
			}
		}
		return p.exited()
	})
	switch {
	case line != "":
		return line, nil
	case p.exited():
		return "", fmt.Errorf("%s exited before announcing %q: %v\n%s", p.name, prefix, p.err, p.logTail())
	}
	return "", fmt.Errorf("%s did not announce %q: %w\n%s", p.name, prefix, err, p.logTail())
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTicks = 100

// cpuSeconds reads the user+system CPU seconds of a process.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("read cpu time of pid %d: %w", pid, err)
	}
	// The command name (field 2) may hold spaces; fields after ')' are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat format")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat times")
	}
	return (ut + st) / clockTicks, nil
}

// memKiB reads a field (VmRSS, VmHWM) of /proc/<pid>/status in KiB.
func memKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse %s %q: %w", field, rest, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}
