// Package kafkanode runs a real single-node Apache Kafka broker (KRaft,
// broker and controller in one JVM) from the jars `task kafka:fetch` puts in
// the user cache, on loopback ports, for the end-to-end suite (e2e/), the
// benchmark harness's split end-to-end scenario (bench/harness) and for
// people (`task kafka:up`). It can start, kill -9, stop and restart the broker on
// the same data, and create topics with kadm.
package kafkanode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Version is the Apache Kafka release the jars come from (e2e/kafka/pom.xml).
const Version = "4.2.2"

// FetchCommand is what a user runs to get the jars.
const FetchCommand = "go tool -modfile=tools/go.mod task kafka:fetch"

// clusterID is the fixed KRaft cluster id of every node made here; it only
// has to be a base64 UUID.
const clusterID = "dHJhY2tzdHJlYW0tZTJlMQ"

// DefaultJarsDir is where `task kafka:fetch` puts the broker's jars:
// $TRACKSTREAM_KAFKA_JARS if set, else
// ${XDG_CACHE_HOME:-$HOME/.cache}/trackstream/kafka/<Version>/jars.
func DefaultJarsDir() string {
	if d := os.Getenv("TRACKSTREAM_KAFKA_JARS"); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "trackstream", "kafka", Version, "jars")
}

// CheckJars reports whether dir holds the broker jars, and if not, how to
// get them.
func CheckJars(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "kafka_2.13-"+Version+".jar")); err != nil {
		return fmt.Errorf("apache kafka %s jars are missing in %s (%v): run `%s` (downloads them from Maven Central, ~45 MB)", Version, dir, err, FetchCommand)
	}
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("java (17 or newer) is not on PATH; apache kafka %s needs it: %w", Version, err)
	}
	return nil
}

// Config says where and how a node runs. Zero ports are picked free at
// Start.
type Config struct {
	// JarsDir holds the broker jars; default DefaultJarsDir().
	JarsDir string
	// Dir holds the node's configuration, data and log; required. A node
	// restarted on the same Dir keeps its topics and offsets.
	Dir string
	// Port is the client (PLAINTEXT) listener on 127.0.0.1; 0 picks one.
	Port int
	// ControllerPort is the KRaft controller listener; 0 picks one.
	ControllerPort int
	// HeapMax is the JVM's -Xmx; default "768m".
	HeapMax string
	// ReadyTimeout bounds Start and Restart's wait for the broker to answer;
	// default 90 s (a cold JVM on 2 cores takes 10-20 s).
	ReadyTimeout time.Duration
	// Detach starts the JVM in its own session so it outlives the caller
	// (task kafka:up); the caller must not Wait for it.
	Detach bool
	// SASLUsers, when set, add a SASL_PLAINTEXT listener (SASLAddr)
	// accepting PLAIN for these users (name -> password) and SCRAM-SHA-256
	// and -512 for users created through the Kafka API. The PLAINTEXT
	// listener stays, for the harness's own clients.
	SASLUsers map[string]string
	// TLSCert and TLSKey (PEM, PKCS #8 key), with SASLUsers, add a SASL_SSL
	// listener (SASLSSLAddr) with this certificate.
	TLSCert, TLSKey string
	// SuperUsers, when set, turn on Kafka's ACL authorizer: these SASL
	// users and the PLAINTEXT listener's anonymous clients (the harness)
	// may do anything, every other user only what ACLs allow.
	SuperUsers []string
}

// Node is a running (or stopped) broker.
type Node struct {
	cfg  Config
	addr string
	// saslPort and sslPort are the SASL_PLAINTEXT and SASL_SSL listeners'
	// ports, 0 when not configured.
	saslPort, sslPort int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exited
	log  *os.File
}

// Start writes the configuration (first time only), formats the storage
// (idempotent), starts the JVM and waits until a metadata request succeeds.
func Start(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Dir == "" {
		return nil, errors.New("kafkanode: Config.Dir is required")
	}
	if cfg.JarsDir == "" {
		cfg.JarsDir = DefaultJarsDir()
	}
	if cfg.HeapMax == "" {
		cfg.HeapMax = "768m"
	}
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 90 * time.Second
	}
	if err := CheckJars(cfg.JarsDir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("kafkanode: create %s: %w", cfg.Dir, err)
	}
	var err error
	if cfg.Port == 0 {
		if cfg.Port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	if cfg.ControllerPort == 0 {
		if cfg.ControllerPort, err = FreePort(); err != nil {
			return nil, err
		}
	}
	n := &Node{cfg: cfg, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port))}
	if len(cfg.SASLUsers) > 0 {
		if n.saslPort, err = FreePort(); err != nil {
			return nil, err
		}
		if cfg.TLSCert != "" {
			if n.sslPort, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	if err := n.writeConfig(); err != nil {
		return nil, err
	}
	if err := n.format(ctx); err != nil {
		return nil, err
	}
	if err := n.Restart(ctx); err != nil {
		return nil, err
	}
	return n, nil
}

// Addr is the broker's client address, 127.0.0.1:<port>.
func (n *Node) Addr() string { return n.addr }

// SASLAddr is the SASL_PLAINTEXT listener's address ("" without
// Config.SASLUsers).
func (n *Node) SASLAddr() string { return listenAddr(n.saslPort) }

// SASLSSLAddr is the SASL_SSL listener's address ("" without Config.TLSCert).
func (n *Node) SASLSSLAddr() string { return listenAddr(n.sslPort) }

func listenAddr(port int) string {
	if port == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}

// LogPath is the file the JVM writes its log to.
func (n *Node) LogPath() string { return filepath.Join(n.cfg.Dir, "broker.log") }

// PID is the JVM's process id, 0 when not running.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.cmd.Process == nil || n.exited() {
		return 0
	}
	return n.cmd.Process.Pid
}

func (n *Node) exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

func (n *Node) propsPath() string { return filepath.Join(n.cfg.Dir, "server.properties") }
func (n *Node) log4jPath() string { return filepath.Join(n.cfg.Dir, "log4j2.xml") }

// writeConfig writes server.properties and the log4j2 configuration.
// Internal topics get replication 1 and few partitions so a cold start on 2
// cores is quick; topics are created explicitly (kadm), never on use.
func (n *Node) writeConfig() error {
	security, err := n.securityProps()
	if err != nil {
		return err
	}
	props := fmt.Sprintf(`# written by internal/testkit/kafkanode
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=%[3]s
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=2
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
log.flush.interval.messages=9223372036854775807
`, n.cfg.Port, n.cfg.ControllerPort, filepath.Join(n.cfg.Dir, "data")) + security
	log4j := `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <Console name="STDOUT" target="SYSTEM_OUT">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
    </Console>
  </Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="STDOUT"/></Root>
    <Logger name="kafka.server.BrokerServer" level="INFO"/>
  </Loggers>
</Configuration>
`
	if err := os.WriteFile(n.propsPath(), []byte(props), 0o640); err != nil {
		return fmt.Errorf("kafkanode: write %s: %w", n.propsPath(), err)
	}
	if err := os.WriteFile(n.log4jPath(), []byte(log4j), 0o640); err != nil {
		return fmt.Errorf("kafkanode: write %s: %w", n.log4jPath(), err)
	}
	return nil
}

// securityProps are the listener settings: PLAINTEXT and CONTROLLER, plus
// SASL_PLAINTEXT and SASL_SSL when configured.
func (n *Node) securityProps() (string, error) {
	listeners := []string{fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", n.cfg.Port)}
	protocols := []string{"PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"}
	var extra strings.Builder
	names := map[int]string{n.saslPort: "SASL_PLAINTEXT", n.sslPort: "SASL_SSL"}
	for _, port := range []int{n.saslPort, n.sslPort} {
		if port == 0 {
			continue
		}
		name := names[port]
		listeners = append(listeners, fmt.Sprintf("%s://127.0.0.1:%d", name, port))
		protocols = append(protocols, name+":"+name)
		plain := "org.apache.kafka.common.security.plain.PlainLoginModule required"
		for user, pass := range n.cfg.SASLUsers {
			plain += fmt.Sprintf(" user_%s=%q", user, pass)
		}
		lower := strings.ToLower(name)
		fmt.Fprintf(&extra, "listener.name.%s.plain.sasl.jaas.config=%s;\n", lower, plain)
		for _, m := range []string{"scram-sha-256", "scram-sha-512"} {
			fmt.Fprintf(&extra, "listener.name.%s.%s.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n", lower, m)
		}
	}
	if n.saslPort != 0 {
		extra.WriteString("sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n")
	}
	if len(n.cfg.SuperUsers) > 0 {
		supers := []string{"User:ANONYMOUS"}
		for _, u := range n.cfg.SuperUsers {
			supers = append(supers, "User:"+u)
		}
		fmt.Fprintf(&extra, "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\nsuper.users=%s\n", strings.Join(supers, ";"))
	}
	if n.sslPort != 0 {
		cert, err := os.ReadFile(n.cfg.TLSCert)
		if err != nil {
			return "", fmt.Errorf("kafkanode: %w", err)
		}
		key, err := os.ReadFile(n.cfg.TLSKey)
		if err != nil {
			return "", fmt.Errorf("kafkanode: %w", err)
		}
		// Inline PEM values; Java properties turn \n escapes into newlines.
		esc := func(b []byte) string { return strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", `\n`) }
		fmt.Fprintf(&extra, "ssl.keystore.type=PEM\nssl.keystore.certificate.chain=%s\nssl.keystore.key=%s\n", esc(cert), esc(key))
	}
	return fmt.Sprintf("listeners=%s,CONTROLLER://127.0.0.1:%d\nadvertised.listeners=%s\nlistener.security.protocol.map=%s\n%s",
		strings.Join(listeners, ","), n.cfg.ControllerPort, strings.Join(listeners, ","), strings.Join(protocols, ","), extra.String()), nil
}

func (n *Node) javaArgs(main string, extra ...string) []string {
	args := []string{
		"-Xms128m", "-Xmx" + n.cfg.HeapMax, "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
		"-Dlog4j2.configurationFile=" + n.log4jPath(),
		"-cp", filepath.Join(n.cfg.JarsDir, "*"),
		main,
	}
	return append(args, extra...)
}

// format prepares the storage; an already formatted directory is kept.
func (n *Node) format(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", n.javaArgs("kafka.tools.StorageTool",
		"format", "-t", clusterID, "-c", n.propsPath(), "--ignore-formatted")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("kafkanode: format storage in %s: %w\n%s", n.cfg.Dir, err, out)
	}
	return nil
}

// Restart starts the JVM on the node's data (after Kill or Stop, or for the
// first time) and waits until the broker answers.
func (n *Node) Restart(ctx context.Context) error {
	n.mu.Lock()
	if n.cmd != nil && !n.exited() {
		n.mu.Unlock()
		return fmt.Errorf("kafkanode: broker on %s is still running (pid %d)", n.addr, n.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		n.mu.Unlock()
		return fmt.Errorf("kafkanode: open log: %w", err)
	}
	cmd := exec.Command("java", n.javaArgs("kafka.Kafka", n.propsPath())...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if n.cfg.Detach {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		// Die with the test binary instead of leaking a JVM.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		n.mu.Unlock()
		return fmt.Errorf("kafkanode: start java: %w", err)
	}
	done := make(chan struct{})
	n.cmd, n.done, n.log = cmd, done, logf
	n.mu.Unlock()
	if n.cfg.Detach {
		// task kafka:up exits after this; the JVM is re-parented.
		go func() { _, _ = cmd.Process.Wait(); close(done) }()
	} else {
		go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	}
	if err := n.WaitReady(ctx, n.cfg.ReadyTimeout); err != nil {
		return fmt.Errorf("%w\nbroker log tail:\n%s", err, n.LogTail(40))
	}
	return nil
}

// WaitReady polls until the broker answers a metadata request with itself
// in it, or timeout passes, or the JVM exits.
func (n *Node) WaitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr), kgo.DialTimeout(2*time.Second), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("kafkanode: client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var last error
	for {
		n.mu.Lock()
		done := n.done
		n.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("kafkanode: broker on %s exited while starting (last error: %v)", n.addr, last)
		default:
		}
		attempt, cancelAttempt := context.WithTimeout(ctx, 3*time.Second)
		md, err := adm.BrokerMetadata(attempt)
		cancelAttempt()
		if err == nil && len(md.Brokers) > 0 && md.Controller >= 0 {
			return nil
		}
		if err == nil {
			err = errors.New("no broker or controller in metadata yet")
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafkanode: broker on %s not ready within %s: %v", n.addr, timeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Kill sends SIGKILL (kill -9) and waits for the JVM to be gone.
func (n *Node) Kill() error { return n.signalAndWait(syscall.SIGKILL, 30*time.Second) }

// Stop sends SIGTERM (a controlled shutdown) and waits up to timeout, then
// kills.
func (n *Node) Stop(timeout time.Duration) error {
	if err := n.signalAndWait(syscall.SIGTERM, timeout); err != nil {
		return errors.Join(err, n.Kill())
	}
	return nil
}

// Pause stops the JVM with SIGSTOP (a frozen broker: connections stay open,
// nothing answers); Resume continues it.
func (n *Node) Pause() error { return n.signal(syscall.SIGSTOP) }

// Resume continues a paused JVM.
func (n *Node) Resume() error { return n.signal(syscall.SIGCONT) }

func (n *Node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cmd == nil || n.exited() {
		return fmt.Errorf("kafkanode: broker on %s is not running", n.addr)
	}
	if err := n.cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("kafkanode: signal %v to pid %d: %w", sig, n.cmd.Process.Pid, err)
	}
	return nil
}

func (n *Node) signalAndWait(sig syscall.Signal, timeout time.Duration) error {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kafkanode: signal %v to pid %d: %w", sig, cmd.Process.Pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("kafkanode: broker pid %d still running %s after %v", cmd.Process.Pid, timeout, sig)
	}
}

// Close kills the broker if it runs; the data stays in Dir.
func (n *Node) Close() error {
	_ = n.signal(syscall.SIGCONT)
	return n.Kill()
}

// LogTail returns the last lines of the broker log.
func (n *Node) LogTail(lines int) string {
	b, err := os.ReadFile(n.LogPath())
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Topic is a topic to create.
type Topic struct {
	Name       string
	Partitions int32
	Configs    map[string]*string
}

// CreateTopics creates the topics with replication 1, ignoring ones that
// exist already.
func (n *Node) CreateTopics(ctx context.Context, topics ...Topic) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(n.addr), kgo.DialTimeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("kafkanode: client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	for _, t := range topics {
		resp, err := adm.CreateTopic(ctx, t.Partitions, 1, t.Configs, t.Name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafkanode: create topic %s on %s: %w", t.Name, n.addr, err)
		}
	}
	return nil
}

// FreePort asks the kernel for a free loopback TCP port. Another process
// may take it before it is used; callers start quickly after asking.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// WriteTo writes a short description of the node for people.
func (n *Node) WriteTo(w io.Writer) (int64, error) {
	c, err := fmt.Fprintf(w, "apache kafka %s (KRaft, single node)\n  bootstrap: %s\n  data:      %s\n  log:       %s\n  pid:       %d\n",
		Version, n.addr, n.cfg.Dir, n.LogPath(), n.PID())
	return int64(c), err
}
