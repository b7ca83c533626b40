package loadgen

// Vocabulary of the generated traffic. Read-only tables.

var sites = []string{"shop.example.com", "blog.example.com", "www.example.org", "docs.example.net"}

var sections = []string{"products", "blog", "docs", "category", "help", "pricing", "news", "guides"}

var slugWords = []string{
	"running-shoes", "winter-jacket", "getting-started", "kafka-basics", "clickhouse-tips",
	"espresso-machine", "garden-chair", "release-notes", "api-reference", "summer-sale",
	"privacy-policy", "wireless-headphones", "travel-backpack", "yoga-mat", "smart-watch",
	"coffee-beans", "desk-lamp", "team-plan", "migration-guide", "troubleshooting",
}

var titleWords = []string{
	"Running Shoes", "Winter Jacket", "Getting Started", "Kafka Basics", "ClickHouse Tips",
	"Espresso Machine", "Garden Chair", "Release Notes", "API Reference", "Summer Sale",
	"Privacy Policy", "Wireless Headphones", "Travel Backpack",
}

var searchReferrers = []string{
	"https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/",
	"https://www.google.de/", "https://search.yahoo.com/", "https://www.ecosia.org/",
}

var socialReferrers = []string{
	"https://t.co/x1y2z3", "https://www.facebook.com/", "https://www.linkedin.com/",
	"https://www.reddit.com/r/programming/", "https://news.ycombinator.com/", "https://l.instagram.com/",
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.51",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
	"Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
	"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
}

// userAgentWeights is the share of each user agent, in per mille-ish units.
var userAgentWeights = []int{34, 22, 18, 9, 5, 5, 2, 2, 2, 1}

var screens = [][2]int{{1920, 1080}, {390, 844}, {1440, 900}, {412, 915}, {2560, 1440}, {1366, 768}, {820, 1180}}

var locales = []string{"en-US", "de-DE", "fr-FR", "en-GB", "es-ES", "pl-PL", "nl-NL", "it-IT"}

var timezones = []string{"Europe/Berlin", "America/New_York", "Europe/London", "Europe/Paris", "America/Los_Angeles", "Asia/Tokyo"}

type campaign struct{ source, medium, name string }

var campaigns = []campaign{
	{"google", "cpc", "brand-2026"}, {"newsletter", "email", "weekly-digest"},
	{"facebook", "social", "black-friday"}, {"linkedin", "social", "b2b-launch"},
	{"partner", "referral", "affiliate-q4"},
}

var eventTypes = []string{"page-view", "click", "scroll", "search", "add-to-cart", "purchase", "sign-up"}

var eventTypeWeights = []int{55, 18, 14, 6, 4, 2, 1}

var segmentNames = map[string]string{
	"click": "Element Clicked", "scroll": "Page Scrolled", "search": "Products Searched",
	"add-to-cart": "Product Added", "purchase": "Order Completed", "sign-up": "Signed Up",
}

var elements = []string{"button.buy", "a.nav-home", "a.product-card", "button.subscribe", "a.footer-link", "img.hero"}

var plans = []string{"free", "team", "business"}
