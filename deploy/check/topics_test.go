package check

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	adminapi "github.com/trackstream/trackstream/admin-api"
	"github.com/trackstream/trackstream/internal/kafka"
)

// TestTopicScriptMatchesProduct checks the one-shot topic step creates
// exactly the topics trackstream uses, with the same configs and, for the
// fixed-size topics, the same partition counts.
func TestTopicScriptMatchesProduct(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(mustRoot(t), "deploy", "kubernetes", "base", "kafka", "create-topics.sh"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^create --topic (\S+) --partitions (\S+)(.*)$`)
	type topic struct {
		partitions string
		configs    map[string]string
	}
	script := map[string]topic{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		tp := topic{partitions: m[2], configs: map[string]string{}}
		for _, c := range regexp.MustCompile(`--config (\S+)=(\S+)`).FindAllStringSubmatch(m[3], -1) {
			tp.configs[c[1]] = strings.ReplaceAll(c[2], "$WEEK_MS", "604800000")
		}
		script[m[1]] = tp
	}
	product := append(kafka.Topics(12), adminapi.Topic())
	if len(script) != len(product) {
		t.Errorf("create-topics.sh creates %d topics, trackstream uses %d", len(script), len(product))
	}
	for _, p := range product {
		s, ok := script[p.Name]
		if !ok {
			t.Errorf("create-topics.sh does not create %s", p.Name)
			continue
		}
		if p.Name != kafka.EventsTopic && s.partitions != strconv.Itoa(int(p.Partitions)) {
			t.Errorf("%s: script makes %s partitions, trackstream %d", p.Name, s.partitions, p.Partitions)
		}
		for k, v := range p.Configs {
			if s.configs[k] != *v {
				t.Errorf("%s: script sets %s=%q, trackstream %q", p.Name, k, s.configs[k], *v)
			}
		}
	}
}
