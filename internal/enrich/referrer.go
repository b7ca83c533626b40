package enrich

import (
	"net/url"
	"strings"
)

// Referrer mediums.
const (
	MediumDirect   = "direct"
	MediumInternal = "internal"
	MediumSearch   = "search"
	MediumSocial   = "social"
	MediumEmail    = "email"
	MediumOther    = "other"
)

// Hosts by medium. An entry matches the host itself and its subdomains;
// an entry ending in "." matches that name under any top-level domain
// (google. matches google.com and www.google.co.uk).
var (
	emailHosts = []string{
		"mail.google.com", "outlook.live.com", "outlook.office.com", "outlook.office365.com",
		"mail.yahoo.com", "mail.yandex.", "mail.proton.me", "mail.aol.com", "webmail.", "mail.",
		"fastmail.com", "icloud.com",
	}
	searchHosts = []string{
		"google.", "bing.com", "search.yahoo.com", "yahoo.", "duckduckgo.com", "baidu.com", "yandex.",
		"ecosia.org", "search.brave.com", "startpage.com", "qwant.com", "naver.com", "seznam.cz",
		"so.com", "sogou.com", "ask.com", "kagi.com", "perplexity.ai",
	}
	socialHosts = []string{
		"facebook.com", "fb.com", "fb.me", "instagram.com", "t.co", "twitter.com", "x.com",
		"linkedin.com", "lnkd.in", "reddit.com", "pinterest.", "youtube.com", "youtu.be",
		"tiktok.com", "news.ycombinator.com", "threads.net", "bsky.app", "vk.com", "quora.com",
		"tumblr.com", "snapchat.com", "weibo.com", "telegram.org", "t.me", "discord.com",
		"mastodon.social", "whatsapp.com", "line.me",
	}
)

// ParseReferrer returns the referrer's lower-case host and its medium:
// direct (no referrer), internal (the page's own host), search, social,
// email or other. pageURL decides internal; an unparseable referrer gives
// two empty strings (unknown).
func ParseReferrer(referrer, pageURL string) (host, medium string) {
	referrer = strings.TrimSpace(referrer)
	if referrer == "" {
		return "", MediumDirect
	}
	u, err := url.Parse(referrer)
	if err != nil || u.Host == "" {
		return "", ""
	}
	host = clip(strings.ToLower(u.Hostname()))
	if page, err := url.Parse(strings.TrimSpace(pageURL)); err == nil && page.Host != "" &&
		trimWWW(strings.ToLower(page.Hostname())) == trimWWW(host) {
		return host, MediumInternal
	}
	switch {
	case matchHost(host, emailHosts):
		return host, MediumEmail
	case matchHost(host, searchHosts):
		return host, MediumSearch
	case matchHost(host, socialHosts):
		return host, MediumSocial
	}
	return host, MediumOther
}

func trimWWW(h string) string { return strings.TrimPrefix(h, "www.") }

func matchHost(host string, list []string) bool {
	bare := trimWWW(host)
	for _, entry := range list {
		if name, anyTLD := strings.CutSuffix(entry, "."); anyTLD {
			// name under any top-level domain of one or two labels
			// (google.com, google.co.uk).
			if rest, ok := strings.CutPrefix(bare, name+"."); ok && rest != "" && strings.Count(rest, ".") <= 1 {
				return true
			}
			continue
		}
		if host == entry || strings.HasSuffix(host, "."+entry) {
			return true
		}
	}
	return false
}
