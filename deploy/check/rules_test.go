package check

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRulesPassRuleChecker parses and validates every rule file the way
// `promtool check rules` does, and holds the alerts to the project's
// conventions: a known severity, a summary, a description and a runbook,
// no duplicate names, and a section in docs/deploying.md.
func TestRulesPassRuleChecker(t *testing.T) {
	root := mustRoot(t)
	rules, err := loadRules(filepath.Join(root, "deploy", "prometheus", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := os.ReadFile(filepath.Join(root, "docs", "deploying.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]string{}
	var alerts, records int
	for file, rgs := range rules {
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				name := r.Alert + r.Record
				if prev, dup := seen[name]; dup {
					t.Errorf("%s: rule %s defined again (first in %s)", filepath.Base(file), name, prev)
				}
				seen[name] = filepath.Base(file)
				if r.Record != "" {
					records++
					continue
				}
				alerts++
				if s := r.Labels["severity"]; s != "critical" && s != "warning" {
					t.Errorf("alert %s: severity %q, want critical or warning", r.Alert, s)
				}
				for _, a := range []string{"summary", "description", "runbook"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("alert %s has no %s annotation", r.Alert, a)
					}
				}
				if !strings.Contains(string(docs), "`"+r.Alert+"`") {
					t.Errorf("alert %s is not explained in docs/deploying.md", r.Alert)
				}
			}
		}
	}
	if alerts < 8 || records == 0 {
		t.Errorf("%d alerts and %d recording rules; the issue asks for at least 8 alerts", alerts, records)
	}
}

// TestRuleCheckerRejectsBadRules proves the checker is not vacuous: each
// broken rule file in testdata/bad-rules is refused, naming the problem.
func TestRuleCheckerRejectsBadRules(t *testing.T) {
	for file, want := range map[string]string{
		"expr.yml":     "BrokenExpr",
		"field.yml":    "fro",
		"template.yml": "nosuchfunction",
	} {
		_, errs := parseRuleFile(filepath.Join("testdata", "bad-rules", file))
		var all []string
		for _, e := range errs {
			all = append(all, e.Error())
		}
		if !strings.Contains(strings.Join(all, "\n"), want) {
			t.Errorf("%s: the rule checker did not refuse it naming %q; errors: %v", file, want, all)
		}
	}
}
