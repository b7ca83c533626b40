// Command kafkactl starts and stops a real single-node Apache Kafka broker
// for people, on loopback, with its data in the user cache. It backs
// `task kafka:up`, `task kafka:down` and `task kafka:status`:
//
//	kafkactl up       start the broker in the background (no-op if it runs)
//	kafkactl down     stop it (SIGTERM, then SIGKILL after 30 s)
//	kafkactl status   say whether it runs and where
//
// TRACKSTREAM_KAFKA_PORT (default 29092) and TRACKSTREAM_KAFKA_CONTROLLER_PORT
// (default 29093) choose the loopback ports; TRACKSTREAM_KAFKA_DIR (default
// ${XDG_CACHE_HOME:-$HOME/.cache}/trackstream/kafka/node) the data.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trackstream/trackstream/internal/kafka"
	"github.com/trackstream/trackstream/internal/testkit/kafkanode"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "kafkactl: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return errors.New("usage: kafkactl up|down|status")
	}
	dir := os.Getenv("TRACKSTREAM_KAFKA_DIR")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(filepath.Dir(kafkanode.DefaultJarsDir())), "node")
	}
	port, err := envPort("TRACKSTREAM_KAFKA_PORT", 29092)
	if err != nil {
		return err
	}
	cport, err := envPort("TRACKSTREAM_KAFKA_CONTROLLER_PORT", 29093)
	if err != nil {
		return err
	}
	pidFile := filepath.Join(dir, "broker.pid")
	switch args[0] {
	case "up":
		if pid := alive(pidFile); pid != 0 {
			fmt.Printf("apache kafka already runs (pid %d) on 127.0.0.1:%d\n", pid, port)
			return nil
		}
		n, err := kafkanode.Start(ctx, kafkanode.Config{Dir: dir, Port: port, ControllerPort: cport, Detach: true})
		if err != nil {
			return err
		}
		if err := os.WriteFile(pidFile, []byte(strconv.Itoa(n.PID())), 0o640); err != nil {
			return fmt.Errorf("write %s: %w", pidFile, err)
		}
		if err := n.CreateTopics(ctx, topics()...); err != nil {
			return err
		}
		_, _ = n.WriteTo(os.Stdout)
		fmt.Printf("  use:       TRACKSTREAM_KAFKA_BROKERS=%s trackstream ingest\n  stop:      go tool -modfile=tools/go.mod task kafka:down\n", n.Addr())
		return nil
	case "down":
		pid := alive(pidFile)
		if pid == 0 {
			fmt.Println("apache kafka is not running")
			return nil
		}
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(30 * time.Second)
		for syscall.Kill(pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if syscall.Kill(pid, 0) == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = os.Remove(pidFile)
		fmt.Printf("apache kafka (pid %d) stopped; data kept in %s\n", pid, dir)
		return nil
	case "status":
		if pid := alive(pidFile); pid != 0 {
			fmt.Printf("apache kafka runs (pid %d) on 127.0.0.1:%d, data in %s\n", pid, port, dir)
			return nil
		}
		fmt.Println("apache kafka is not running")
		return nil
	}
	return fmt.Errorf("unknown command %q: want up, down or status", args[0])
}

// topics are trackstream's topics with the partitions trackstream uses by
// default, so a person's broker looks like the one the suite uses.
func topics() []kafkanode.Topic {
	var ts []kafkanode.Topic
	for _, t := range kafka.Topics(6) {
		ts = append(ts, kafkanode.Topic{Name: t.Name, Partitions: t.Partitions, Configs: t.Configs})
	}
	return ts
}

// alive returns the pid in pidFile if that process runs java, else 0.
func alive(pidFile string) int {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || !strings.HasPrefix(strings.TrimSpace(string(comm)), "java") {
		return 0
	}
	return pid
}

func envPort(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%s: %q is not a port (1-65535)", name, v)
	}
	return p, nil
}
