package enrich

import (
	_ "embed"
	"strings"
	"sync"
)

// crawlerPhrases are the bot names of the crawler-user-agents project
// (MIT licence; npm package crawler-user-agents, the patterns that are
// plain literals), lower-cased, one per line. Regenerate with
// `task bench:ua-bot-phrases`.
//
//go:embed crawlers.txt
var crawlerPhrases string

// CrawlerListVersion names the crawler-user-agents release crawlers.txt
// was made from; it is part of UserAgentRules.
const CrawlerListVersion = "crawler-user-agents@1.60.0"

// crawlerIndex maps the first word of each phrase (a run of a-z and 0-9)
// to the phrases that start with it, so a user agent is checked with one
// map lookup per word instead of a scan of the whole list.
var crawlerIndex = sync.OnceValue(func() map[string][]string {
	idx := map[string][]string{}
	for p := range strings.Lines(crawlerPhrases) {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		first := p[:wordEnd(p, 0)]
		idx[first] = append(idx[first], p)
	}
	return idx
})

// knownCrawler reports whether lower, a lower-cased user agent, holds a
// phrase of the crawler list starting at a word boundary.
func knownCrawler(lower string) bool {
	idx := crawlerIndex()
	for i := 0; i < len(lower); {
		if !isWord(lower[i]) {
			i++
			continue
		}
		end := wordEnd(lower, i)
		for _, p := range idx[lower[i:end]] {
			if strings.HasPrefix(lower[i:], p) {
				return true
			}
		}
		i = end
	}
	return false
}

func isWord(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// wordEnd returns where the word starting at s[i] ends.
func wordEnd(s string, i int) int {
	for i < len(s) && isWord(s[i]) {
		i++
	}
	return i
}
