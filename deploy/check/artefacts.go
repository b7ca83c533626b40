package check

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// dashboard is the part of a Grafana dashboard JSON the checks read.
type dashboard struct {
	File   string  `json:"-"`
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

// panel is a Grafana panel; rows carry nested panels.
type panel struct {
	ID         int         `json:"id"`
	Type       string      `json:"type"`
	Title      string      `json:"title"`
	Datasource *datasource `json:"datasource"`
	GridPos    struct {
		X, Y, W, H int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
	Panels  []panel  `json:"panels"`
}

// datasource is a reference to a provisioned datasource.
type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// target is one query of a panel: PromQL in Expr or ClickHouse SQL in RawSQL.
type target struct {
	RefID      string      `json:"refId"`
	Datasource *datasource `json:"datasource"`
	Expr       string      `json:"expr"`
	RawSQL     string      `json:"rawSql"`
}

// allPanels returns the panels of d with row children flattened.
func (d dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// loadDashboards reads every dashboard JSON in dir.
func loadDashboards(dir string) ([]dashboard, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no dashboards in %s", dir)
	}
	sort.Strings(files)
	var out []dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", f, err)
		}
		d.File = f
		out = append(out, d)
	}
	return out, nil
}

// promParser is the PromQL parser with Prometheus' default options, the
// one the server and promtool use.
func promParser() parser.Parser { return parser.NewParser(parser.Options{}) }

// loadRules parses and validates every rule file in dir the way
// `promtool check rules` does (rulefmt.ParseFile, unknown fields refused).
func loadRules(dir string) (map[string]*rulefmt.RuleGroups, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no rule files in %s", dir)
	}
	out := map[string]*rulefmt.RuleGroups{}
	for _, f := range files {
		rgs, errs := parseRuleFile(f)
		if len(errs) > 0 {
			return nil, fmt.Errorf("rule file %s: %v", f, errs)
		}
		out[f] = rgs
	}
	return out, nil
}

// parseRuleFile is rulefmt.ParseFile with promtool's defaults.
func parseRuleFile(path string) (*rulefmt.RuleGroups, []error) {
	return rulefmt.ParseFile(path, false, model.UTF8Validation, promParser(), promslog.NewNopLogger())
}

// referencedMetrics returns, for every metric name the dashboards' PromQL
// targets and the rules' expressions use, where it is used. Names that
// recording rules define are left out (they exist once Prometheus
// evaluates the rules); so are the series Prometheus itself makes (up).
func referencedMetrics(dashboards []dashboard, rules map[string]*rulefmt.RuleGroups) (map[string][]string, error) {
	p := promParser()
	refs := map[string][]string{}
	recorded := map[string]bool{}
	add := func(where, expr string) error {
		names, err := metricNames(p, expr)
		if err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		for _, n := range names {
			refs[n] = append(refs[n], where)
		}
		return nil
	}
	for file, rgs := range rules {
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				if r.Record != "" {
					recorded[r.Record] = true
				}
				if err := add(fmt.Sprintf("%s group %s rule %s%s", filepath.Base(file), g.Name, r.Record, r.Alert), r.Expr); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, d := range dashboards {
		for _, pn := range d.allPanels() {
			for _, t := range pn.Targets {
				if t.Expr == "" {
					continue
				}
				if err := add(fmt.Sprintf("%s panel %q", filepath.Base(d.File), pn.Title), grafanaToPromQL(t.Expr)); err != nil {
					return nil, err
				}
			}
		}
	}
	for n := range recorded {
		delete(refs, n)
	}
	// up is written by Prometheus itself for every target; no exporter
	// exposes it.
	delete(refs, "up")
	return refs, nil
}
