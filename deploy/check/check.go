// Package check proves trackstream's deployment artefacts (everything under
// deploy/) against the real things they describe, without a Docker engine or
// a Kubernetes cluster:
//
//   - the Dockerfile's build stage is run here, command for command, and the
//     binary it makes is the one the other checks start;
//   - every metric a Grafana panel or a Prometheus rule refers to is scraped
//     from that running binary;
//   - the rules pass Prometheus' own rule parser and validator (rulefmt, what
//     `promtool check rules` runs);
//   - every Kubernetes overlay is built with kustomize's own library and
//     every resulting object decodes strictly into the Kubernetes API types;
//   - the compose file loads and validates with compose-go (the library
//     `docker compose` itself uses);
//   - every TRACKSTREAM_* variable set anywhere is one the role's
//     `trackstream help <role>` lists.
//
// The package lives in its own Go module so its heavy dependencies
// (k8s.io/api, kustomize, prometheus, compose-go) stay out of the product's
// go.mod. Run it with `go tool -modfile=tools/go.mod task deploy:check`.
package check

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// repoRoot is the repository root, seen from deploy/check.
func repoRoot() (string, error) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "trackstream")); err != nil {
		return "", fmt.Errorf("repository root %s has no cmd/trackstream (run the checks from deploy/check): %w", root, err)
	}
	return root, nil
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ARG, ...
	Args string
	Line int
}

// stage is one FROM ... [AS name] section of a Dockerfile.
type stage struct {
	Name   string
	Base   string
	Instrs []instruction
}

// dockerfile is a parsed Dockerfile: the ARGs before the first FROM and the
// stages.
type dockerfile struct {
	GlobalArgs map[string]string
	Stages     []stage
}

// stage returns the stage called name.
func (d dockerfile) stage(name string) (stage, bool) {
	for _, s := range d.Stages {
		if s.Name == name {
			return s, true
		}
	}
	return stage{}, false
}

// parseDockerfile reads the subset of the Dockerfile syntax deploy/Dockerfile
// uses: comments, backslash continuations, and instructions.
func parseDockerfile(src string) (dockerfile, error) {
	d := dockerfile{GlobalArgs: map[string]string{}}
	var (
		buf   strings.Builder
		start int
	)
	flush := func() error {
		text := strings.TrimSpace(buf.String())
		buf.Reset()
		if text == "" {
			return nil
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		switch {
		case in.Cmd == "FROM":
			f := strings.Fields(in.Args)
			st := stage{Base: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.Name = f[2]
			} else if len(f) != 1 {
				return fmt.Errorf("line %d: FROM %q: want `FROM image [AS name]`", start, in.Args)
			}
			d.Stages = append(d.Stages, st)
		case len(d.Stages) == 0 && in.Cmd == "ARG":
			k, v, _ := strings.Cut(in.Args, "=")
			d.GlobalArgs[k] = v
		case len(d.Stages) == 0:
			return fmt.Errorf("line %d: %s before the first FROM", start, in.Cmd)
		default:
			s := &d.Stages[len(d.Stages)-1]
			s.Instrs = append(s.Instrs, in)
		}
		return nil
	}
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if buf.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if buf.Len() == 0 {
			start = n
		}
		if strings.HasSuffix(trimmed, "\\") {
			buf.WriteString(strings.TrimSuffix(trimmed, "\\"))
			buf.WriteString(" ")
			continue
		}
		buf.WriteString(trimmed)
		if err := flush(); err != nil {
			return d, err
		}
	}
	if err := sc.Err(); err != nil {
		return d, err
	}
	if buf.Len() > 0 {
		return d, fmt.Errorf("line %d: continuation at end of file", start)
	}
	if len(d.Stages) == 0 {
		return d, errors.New("no FROM instruction")
	}
	return d, nil
}

// stageArgs returns the ARG defaults visible in s: a global ARG redeclared
// without a value inherits the global default.
func stageArgs(d dockerfile, s stage) map[string]string {
	args := map[string]string{}
	for _, in := range s.Instrs {
		if in.Cmd != "ARG" {
			continue
		}
		for _, decl := range strings.Fields(in.Args) {
			k, v, ok := strings.Cut(decl, "=")
			if !ok {
				v = d.GlobalArgs[k]
			}
			args[k] = v
		}
	}
	return args
}

// helpEnvRe matches the variables `trackstream help <role>` lists:
// "-flag (TRACKSTREAM_X)" and "TRACKSTREAM_X (environment only)".
var helpEnvRe = regexp.MustCompile(`\b(TRACKSTREAM_[A-Z0-9_]+)\b`)

// helpEnv returns the TRACKSTREAM_* variables named in a help text.
func helpEnv(help string) map[string]bool {
	out := map[string]bool{}
	for _, m := range helpEnvRe.FindAllStringSubmatch(help, -1) {
		out[m[1]] = true
	}
	return out
}

// grafanaVarRe matches Grafana template variables: $var, ${var}, ${var:fmt}
// and the built-ins $__rate_interval, $__interval, $__range.
var grafanaVarRe = regexp.MustCompile(`\$\{?(__[a-z_]+|[A-Za-z_][A-Za-z0-9_]*)(:[a-z]+)?\}?`)

// grafanaToPromQL replaces Grafana's template variables in a panel
// expression with values Prometheus would see: durations for the interval
// built-ins, a match-all regexp for dashboard variables (which this project
// only uses inside =~ matchers).
func grafanaToPromQL(expr string) string {
	return grafanaVarRe.ReplaceAllStringFunc(expr, func(v string) string {
		name := grafanaVarRe.FindStringSubmatch(v)[1]
		if strings.HasPrefix(name, "__") {
			return "5m"
		}
		return ".*"
	})
}

// metricNames returns the metric names a PromQL expression selects.
func metricNames(p parser.Parser, expr string) ([]string, error) {
	node, err := p.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var unnamed bool
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			for _, m := range vs.LabelMatchers {
				if m.Name == "__name__" && m.Type.String() == "=" {
					name = m.Value
				}
			}
		}
		if name == "" {
			unnamed = true
			return nil
		}
		seen[name] = true
		return nil
	})
	if unnamed {
		return nil, fmt.Errorf("expression %q selects series without an exact metric name; name every metric so it can be checked", expr)
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// sqlMacroRes are the Grafana ClickHouse datasource macros the business
// dashboard uses, with what they expand to for a one-day range.
var sqlMacroRes = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\$__timeFilter\(([a-z_]+)\)`), "$1 >= now() - INTERVAL 1 DAY AND $1 <= now()"},
	{regexp.MustCompile(`\$__timeInterval\(([a-z_]+)\)`), "toStartOfInterval(toDateTime($1), INTERVAL 60 second)"},
}

// expandSQLMacros expands the datasource macros in a panel's SQL the way
// the plugin does, so the statement can run on a ClickHouse engine.
func expandSQLMacros(sql string) (string, error) {
	for _, m := range sqlMacroRes {
		sql = m.re.ReplaceAllString(sql, m.repl)
	}
	if i := strings.Index(sql, "$"); i >= 0 {
		return "", fmt.Errorf("unexpanded macro or variable at %q", sql[i:])
	}
	return sql, nil
}
