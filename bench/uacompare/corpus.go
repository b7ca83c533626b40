// Package uacompare measures user-agent parsers on a corpus of real
// user-agent strings with expected browser, OS, device type and bot flag:
// today's rules in internal/enrich against maintained parsers, for
// docs/enrichment.md. The corpus (testdata/corpus.jsonl.gz) is built by
// `trackstream-uacompare build` from Matomo device-detector's test
// fixtures and the crawler-user-agents list.
package uacompare

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Entry is one user agent of the corpus with what it is. Empty Browser,
// OS or Device means the corpus does not score that dimension for it.
type Entry struct {
	UA      string `json:"ua"`
	Browser string `json:"browser,omitempty"`
	OS      string `json:"os,omitempty"`
	Device  string `json:"device,omitempty"`
	Bot     bool   `json:"bot"`
	// Source names the fixture file the entry came from.
	Source string `json:"source"`
}

// LoadCorpus reads a gzipped JSON-lines corpus.
func LoadCorpus(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []Entry
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, len(out)+1, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// WriteCorpus writes entries as a gzipped JSON-lines corpus.
func WriteCorpus(path string, entries []Entry) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestCompression)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for _, e := range entries {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

// MajorBrowsers are the browsers the browser accuracy is scored on: those
// that make up nearly all of real web traffic. Entries expecting another
// browser are not scored for it (parsers name the long tail differently).
var MajorBrowsers = []string{"Chrome", "Safari", "Firefox", "Edge", "Opera", "Samsung Internet", "Internet Explorer", "Yandex Browser", "UC Browser"}

// MajorOSes are the operating systems the OS accuracy is scored on.
var MajorOSes = []string{"Windows", "macOS", "iOS", "Android", "Linux", "ChromeOS"}

// DeviceTypes are the device types scored (internal/enrich's).
var DeviceTypes = []string{"desktop", "mobile", "tablet", "tv", "console"}

// CanonBrowser maps a parser's browser name onto one vocabulary.
func CanonBrowser(name string) string {
	l := strings.ToLower(strings.TrimSpace(name))
	switch {
	case l == "":
		return ""
	case strings.Contains(l, "edge"):
		return "Edge"
	case strings.Contains(l, "samsung"):
		return "Samsung Internet"
	case strings.Contains(l, "opera"), l == "opr":
		return "Opera"
	case strings.Contains(l, "yandex") || l == "yabrowser":
		return "Yandex Browser"
	case strings.Contains(l, "uc browser") || l == "ucbrowser":
		return "UC Browser"
	case l == "ie" || strings.Contains(l, "internet explorer") || l == "ie mobile" || l == "iemobile":
		return "Internet Explorer"
	case strings.Contains(l, "firefox"):
		return "Firefox"
	case l == "chrome" || l == "chrome mobile" || l == "chrome mobile ios" || l == "chrome ios" || l == "chrome webview" ||
		l == "chromium" || l == "chrome headless" || l == "headlesschrome" || l == "chrome mobile webview":
		return "Chrome"
	case l == "safari" || l == "mobile safari" || l == "mobile safari ui/wkwebview":
		return "Safari"
	}
	return name
}

// CanonOS maps a parser's OS name onto one vocabulary.
func CanonOS(name string) string {
	l := strings.ToLower(strings.TrimSpace(name))
	switch {
	case l == "":
		return ""
	case l == "windows phone" || l == "windows mobile":
		return "Windows Phone"
	case strings.HasPrefix(l, "windows"):
		return "Windows"
	case l == "mac" || l == "mac os x" || l == "macos" || l == "os x" || l == "mac os":
		return "macOS"
	case l == "ios" || l == "ipados":
		return "iOS"
	case l == "android":
		return "Android"
	case l == "chrome os" || l == "chromeos" || l == "chromium os":
		return "ChromeOS"
	case l == "linux" || l == "gnu/linux" || l == "ubuntu" || l == "debian" || l == "fedora" || l == "linux mint" ||
		l == "arch linux" || l == "opensuse" || l == "red hat" || l == "centos" || l == "mandriva" || l == "gentoo" || l == "slackware" || l == "kubuntu":
		return "Linux"
	}
	return name
}

// CanonDevice maps a device type onto internal/enrich's.
func CanonDevice(t string) string {
	switch strings.ToLower(strings.TrimSpace(t)) {
	case "desktop":
		return "desktop"
	case "smartphone", "phablet", "feature phone", "mobile":
		return "mobile"
	case "tablet":
		return "tablet"
	case "tv", "smart tv":
		return "tv"
	case "console":
		return "console"
	case "":
		return ""
	}
	return "other"
}
