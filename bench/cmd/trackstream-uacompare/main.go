// Command trackstream-uacompare builds the user-agent corpus and prints
// each candidate parser's accuracy on it as a Markdown table.
//
//	trackstream-uacompare build -matomo <device-detector checkout>/Tests/fixtures -crawlers <crawler-user-agents.json> -out uacompare/testdata/corpus.jsonl.gz
//	trackstream-uacompare bot-phrases -crawlers <crawler-user-agents.json> -out ../internal/enrich/crawlers.txt
//	trackstream-uacompare table [-corpus uacompare/testdata/corpus.jsonl.gz]
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp/syntax"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trackstream/trackstream/bench/uacompare"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "trackstream-uacompare:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: trackstream-uacompare build|bot-phrases|table [flags]")
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	switch args[0] {
	case "build":
		matomo := fs.String("matomo", "", "Matomo device-detector's Tests/fixtures directory")
		crawlers := fs.String("crawlers", "", "crawler-user-agents.json (npm package crawler-user-agents)")
		out := fs.String("out", "uacompare/testdata/corpus.jsonl.gz", "corpus file to write")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		entries, err := build(*matomo, *crawlers)
		if err != nil {
			return err
		}
		if err := uacompare.WriteCorpus(*out, entries); err != nil {
			return err
		}
		fmt.Printf("%d entries written to %s\n", len(entries), *out)
		return nil
	case "bot-phrases":
		crawlers := fs.String("crawlers", "", "crawler-user-agents.json (npm package crawler-user-agents)")
		out := fs.String("out", "../internal/enrich/crawlers.txt", "file to write, one lower-case phrase per line")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		phrases, skipped, err := botPhrases(*crawlers)
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, []byte(strings.Join(phrases, "\n")+"\n"), 0o644); err != nil {
			return err
		}
		fmt.Printf("%d phrases written to %s (%d patterns are not plain literals and are left out)\n", len(phrases), *out, skipped)
		return nil
	case "table":
		corpus := fs.String("corpus", "uacompare/testdata/corpus.jsonl.gz", "corpus file")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		entries, err := uacompare.LoadCorpus(*corpus)
		if err != nil {
			return err
		}
		var scores []uacompare.Score
		for _, p := range uacompare.Parsers() {
			scores = append(scores, uacompare.Measure(p, entries))
		}
		uacompare.WriteTable(os.Stdout, scores)
		return nil
	}
	return fmt.Errorf("unknown command %q (want build, bot-phrases or table)", args[0])
}

// fixture is one entry of a Matomo fixture file.
type fixture struct {
	UserAgent string `yaml:"user_agent"`
	// Client and Device are maps, or empty lists where the fixture
	// knows nothing.
	Client   any            `yaml:"client"`
	Device   any            `yaml:"device"`
	OSFamily string         `yaml:"os_family"`
	Bot      map[string]any `yaml:"bot"`
	Headers  map[string]any `yaml:"headers"`
}

// sampling keeps every n-th browser entry of a fixture file family, so
// the corpus stays a few thousand entries with every device class in it.
var sampling = map[string]int{"desktop": 1, "tv": 1, "console": 1, "smartphone": 15, "tablet": 6, "phablet": 2, "feature_phone": 1, "bots": 1}

func build(matomo, crawlers string) ([]uacompare.Entry, error) {
	if matomo == "" || crawlers == "" {
		return nil, errors.New("build needs -matomo and -crawlers")
	}
	files, err := filepath.Glob(filepath.Join(matomo, "*.yml"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	seen := map[string]bool{}
	var out []uacompare.Entry
	add := func(e uacompare.Entry) {
		if e.UA == "" || seen[e.UA] {
			return
		}
		seen[e.UA] = true
		out = append(out, e)
	}
	for _, f := range files {
		base := strings.TrimSuffix(filepath.Base(f), ".yml")
		family, _, _ := strings.Cut(base, "-")
		every, ok := sampling[family]
		if !ok {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var fixtures []fixture
		if err := yaml.Unmarshal(raw, &fixtures); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		n := 0
		for _, fx := range fixtures {
			if family == "bots" {
				if fx.Bot != nil {
					add(uacompare.Entry{UA: fx.UserAgent, Bot: true, Source: "matomo/" + base})
				}
				continue
			}
			// Browsers only (not apps, libraries, feed readers), and no
			// fixture whose answer comes from client hints the corpus
			// does not carry.
			if field(fx.Client, "type") != "browser" || fx.Headers != nil {
				continue
			}
			if n++; (n-1)%every != 0 {
				continue
			}
			add(uacompare.Entry{
				UA:      fx.UserAgent,
				Browser: uacompare.CanonBrowser(field(fx.Client, "name")),
				OS:      uacompare.CanonOS(fx.OSFamily),
				Device:  uacompare.CanonDevice(field(fx.Device, "type")),
				Source:  "matomo/" + base,
			})
		}
	}
	raw, err := os.ReadFile(crawlers)
	if err != nil {
		return nil, err
	}
	var list []struct {
		Instances []string `json:"instances"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("%s: %w", crawlers, err)
	}
	for _, c := range list {
		for _, ua := range c.Instances {
			add(uacompare.Entry{UA: ua, Bot: true, Source: "crawler-user-agents"})
		}
	}
	return out, nil
}

// field returns the string member key of a fixture map, or "".
func field(v any, key string) string {
	m, _ := v.(map[string]any)
	s, _ := m[key].(string)
	return s
}

// botPhrases extracts the literal patterns of crawler-user-agents.json,
// lower-cased, one per line: the bot list internal/enrich embeds.
// Patterns that are not plain literals (character classes, alternations)
// are left out; the returned count says how many.
func botPhrases(crawlers string) (phrases []string, skipped int, err error) {
	raw, err := os.ReadFile(crawlers)
	if err != nil {
		return nil, 0, err
	}
	var list []struct {
		Pattern string `json:"pattern"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", crawlers, err)
	}
	seen := map[string]bool{}
	for _, c := range list {
		re, err := syntax.Parse(c.Pattern, syntax.Perl)
		if err != nil {
			skipped++
			continue
		}
		lit, ok := literalOf(re.Simplify())
		lit = strings.ToLower(strings.TrimSpace(lit))
		if !ok || len(lit) < 3 || !isWordByte(lit[0]) {
			skipped++
			continue
		}
		if !seen[lit] && !slices.Contains(notBots, lit) {
			seen[lit] = true
			phrases = append(phrases, lit)
		}
	}
	slices.Sort(phrases)
	return phrases, skipped, nil
}

// notBots are literal patterns of the crawler list that name real
// browsers or devices in the corpus (Amazon's Silk browser, the Fluid
// site-specific browser, Fever phones), so internal/enrich leaves them out.
var notBots = []string{"silk/", "fluid", "fever"}

// literalOf returns the text a regexp matches when it is a literal,
// possibly anchored.
func literalOf(re *syntax.Regexp) (string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return string(re.Rune), true
	case syntax.OpConcat:
		var b strings.Builder
		for _, sub := range re.Sub {
			switch sub.Op {
			case syntax.OpBeginText, syntax.OpBeginLine, syntax.OpEndText, syntax.OpEndLine:
			case syntax.OpLiteral:
				b.WriteString(string(sub.Rune))
			default:
				return "", false
			}
		}
		return b.String(), b.Len() > 0
	}
	return "", false
}

func isWordByte(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
