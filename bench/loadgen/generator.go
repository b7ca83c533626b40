package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// Shape is the wire format of the generated requests.
type Shape string

// The request shapes the generator writes.
const (
	// ShapeTracardi is a Tracardi-style POST /track body: source, session,
	// profile, a shared context and events[].
	ShapeTracardi Shape = "tracardi"
	// ShapeSegment is a Segment-style POST /v1/batch body: batch[] of
	// track/page calls with messageId, anonymousId and context, plus writeKey.
	ShapeSegment Shape = "segment"
)

// GenConfig describes the traffic a Generator makes. The zero value of
// every field but SourceID has a usable default (see withDefaults).
type GenConfig struct {
	// Seed makes the traffic reproducible: the same seed, run id, worker
	// and clock give byte-identical requests.
	Seed uint64
	// RunID is put into every event id, so ids are unique across runs.
	// Default "run".
	RunID string
	// SourceID is the Tracardi source.id or the Segment writeKey.
	SourceID string
	// Shape is the request format. Default ShapeTracardi.
	Shape Shape
	// EventsPerRequest is the batch size. Default 1.
	EventsPerRequest int
	// Visitors is the number of distinct visitors. Default 100000.
	Visitors int
	// Pages is the number of distinct page paths per site; popularity
	// follows a Zipf law, so a few pages get most views and a long tail
	// gets the rest. Default 5000.
	Pages int
	// Now stamps event and send times. Default time.Now.
	Now func() time.Time
}

func (c GenConfig) withDefaults() GenConfig {
	if c.RunID == "" {
		c.RunID = "run"
	}
	if c.Shape == "" {
		c.Shape = ShapeTracardi
	}
	if c.EventsPerRequest <= 0 {
		c.EventsPerRequest = 1
	}
	if c.Visitors <= 0 {
		c.Visitors = 100_000
	}
	if c.Pages <= 0 {
		c.Pages = 5000
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Generator makes realistic tracking requests: visitors with sessions,
// page views with a long tail of URLs, referrers (search, social, internal,
// direct), real-world user agents, UTM campaigns on some sessions, and
// typed event properties. It is not safe for concurrent use: give each
// worker its own with NewGenerator(cfg, worker).
type Generator struct {
	cfg    GenConfig
	rng    *rand.Rand
	zipf   *rand.Zipf
	worker int
	seq    uint64
	ids    []string
	buf    []byte
	// visit is the state of the current visitor's session.
	visit visitState
}

type visitState struct {
	visitor  int
	session  uint64
	left     int // events left in this session
	prevPath string
	referrer string
	ua       int
	utm      int // index into campaigns, -1 for none
	screen   int
}

// NewGenerator returns the generator of worker number worker (0-based);
// workers of one config make disjoint event ids.
func NewGenerator(cfg GenConfig, worker int) *Generator {
	cfg = cfg.withDefaults()
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(worker)+0x9e3779b97f4a7c15))
	return &Generator{
		cfg:    cfg,
		rng:    rng,
		zipf:   rand.NewZipf(rng, 1.1, 4, uint64(cfg.Pages-1)),
		worker: worker,
		buf:    make([]byte, 0, 1024*cfg.EventsPerRequest),
	}
}

// Path is the URL path requests of this shape are posted to.
func (c GenConfig) Path() string {
	if c.withDefaults().Shape == ShapeSegment {
		return "/v1/batch"
	}
	return "/track"
}

// Next returns the next request body and the ids of its events. Both are
// valid until the next call of Next.
func (g *Generator) Next() (body []byte, ids []string) {
	g.ids = g.ids[:0]
	g.buf = g.buf[:0]
	if g.visit.left <= 0 {
		g.newSession()
	}
	now := g.cfg.Now().UTC()
	if g.cfg.Shape == ShapeSegment {
		g.buf = g.appendSegment(g.buf, now)
	} else {
		g.buf = g.appendTracardi(g.buf, now)
	}
	return g.buf, g.ids
}

func (g *Generator) newSession() {
	v := &g.visit
	// Returning visitors are skewed too: a quarter of traffic from the
	// first 1 % of visitors.
	if g.rng.IntN(4) == 0 {
		v.visitor = g.rng.IntN(max(g.cfg.Visitors/100, 1))
	} else {
		v.visitor = g.rng.IntN(g.cfg.Visitors)
	}
	v.session = g.rng.Uint64()
	v.left = 1 + g.rng.IntN(12)
	v.prevPath = ""
	v.ua = pickWeighted(g.rng, userAgentWeights)
	v.screen = g.rng.IntN(len(screens))
	v.utm = -1
	if g.rng.IntN(5) == 0 {
		v.utm = g.rng.IntN(len(campaigns))
	}
	switch r := g.rng.IntN(10); {
	case r < 4:
		v.referrer = ""
	case r < 7:
		v.referrer = searchReferrers[g.rng.IntN(len(searchReferrers))]
	default:
		v.referrer = socialReferrers[g.rng.IntN(len(socialReferrers))]
	}
}

// nextID makes a unique, deterministic event id.
func (g *Generator) nextID(dst []byte) []byte {
	g.seq++
	start := len(dst)
	dst = append(dst, g.cfg.RunID...)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, int64(g.worker), 36)
	dst = append(dst, '-')
	dst = strconv.AppendUint(dst, g.seq, 36)
	g.ids = append(g.ids, string(dst[start:]))
	return dst
}

// page is one generated page view's location.
type page struct {
	site, path, title string
}

func (g *Generator) nextPage() page {
	i := int(g.zipf.Uint64())
	site := sites[i%len(sites)]
	sec := sections[(i/len(sites))%len(sections)]
	path := "/" + sec + "/" + slugWords[i%len(slugWords)] + "-" + strconv.Itoa(i)
	if i == 0 {
		path = "/"
	}
	return page{site: site, path: path, title: titleWords[i%len(titleWords)] + " " + strconv.Itoa(i) + " | " + site}
}

func (g *Generator) eventType() string {
	return eventTypes[pickWeighted(g.rng, eventTypeWeights)]
}

func (g *Generator) appendTracardi(b []byte, now time.Time) []byte {
	v := &g.visit
	pg := g.nextPage()
	b = append(b, `{"source":{"id":`...)
	b = appendJSONString(b, g.cfg.SourceID)
	b = append(b, `},"session":{"id":"s-`...)
	b = strconv.AppendUint(b, v.session, 36)
	b = append(b, `"},"profile":{"id":"p-`...)
	b = strconv.AppendInt(b, int64(v.visitor), 36)
	b = append(b, `"},"context":`...)
	b = g.appendContext(b, pg, false)
	b = append(b, `,"events":[`...)
	for i := range g.cfg.EventsPerRequest {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"`...)
		b = g.nextID(b)
		b = append(b, `","type":`...)
		typ := g.eventType()
		b = appendJSONString(b, typ)
		b = append(b, `,"time":"`...)
		b = now.Add(time.Duration(i-g.cfg.EventsPerRequest)*150*time.Millisecond).AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, `","properties":`...)
		b = g.appendProperties(b, typ, pg)
		b = append(b, '}')
		v.left--
	}
	b = append(b, "]}"...)
	v.prevPath = pg.path
	return b
}

func (g *Generator) appendSegment(b []byte, now time.Time) []byte {
	v := &g.visit
	b = append(b, `{"batch":[`...)
	for i := range g.cfg.EventsPerRequest {
		pg := g.nextPage()
		if i > 0 {
			b = append(b, ',')
		}
		typ := g.eventType()
		if typ == "page-view" {
			b = append(b, `{"type":"page","name":`...)
			b = appendJSONString(b, pg.title)
		} else {
			b = append(b, `{"type":"track","event":`...)
			b = appendJSONString(b, segmentNames[typ])
		}
		b = append(b, `,"messageId":"`...)
		b = g.nextID(b)
		b = append(b, `","anonymousId":"a-`...)
		b = strconv.AppendInt(b, int64(v.visitor), 36)
		b = append(b, `","timestamp":"`...)
		b = now.Add(time.Duration(i-g.cfg.EventsPerRequest)*150*time.Millisecond).AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
		b = append(b, `","properties":`...)
		b = g.appendProperties(b, typ, pg)
		b = append(b, `,"context":`...)
		b = g.appendContext(b, pg, true)
		b = append(b, '}')
		v.prevPath = pg.path
		v.left--
	}
	b = append(b, `],"writeKey":`...)
	b = appendJSONString(b, g.cfg.SourceID)
	b = append(b, `,"sentAt":"`...)
	b = now.AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	return append(b, `"}`...)
}

// appendContext writes the page, browser, screen and campaign context.
func (g *Generator) appendContext(b []byte, pg page, segment bool) []byte {
	v := &g.visit
	url := "https://" + pg.site + pg.path
	ref := v.referrer
	if v.prevPath != "" {
		ref = "https://" + pg.site + v.prevPath
	}
	b = append(b, `{"page":{"url":`...)
	if v.utm >= 0 {
		c := campaigns[v.utm]
		url += "?utm_source=" + c.source + "&utm_medium=" + c.medium + "&utm_campaign=" + c.name
	}
	b = appendJSONString(b, url)
	b = append(b, `,"path":`...)
	b = appendJSONString(b, pg.path)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, pg.title)
	b = append(b, `,"referrer":`...)
	b = appendJSONString(b, ref)
	b = append(b, '}')
	if segment {
		b = append(b, `,"userAgent":`...)
		b = appendJSONString(b, userAgents[v.ua])
		b = append(b, `,"locale":"`...)
	} else {
		b = append(b, `,"browser":{"userAgent":`...)
		b = appendJSONString(b, userAgents[v.ua])
		b = append(b, `,"language":"`...)
	}
	b = append(b, locales[v.visitor%len(locales)]...)
	b = append(b, '"')
	if !segment {
		b = append(b, '}')
	}
	s := screens[v.screen]
	b = append(b, `,"screen":{"width":`...)
	b = strconv.AppendInt(b, int64(s[0]), 10)
	b = append(b, `,"height":`...)
	b = strconv.AppendInt(b, int64(s[1]), 10)
	b = append(b, `},"timezone":"`...)
	b = append(b, timezones[v.visitor%len(timezones)]...)
	b = append(b, '"')
	if v.utm >= 0 {
		c := campaigns[v.utm]
		if segment {
			b = append(b, `,"campaign":{"source":"`...)
		} else {
			b = append(b, `,"utm":{"source":"`...)
		}
		b = append(b, c.source...)
		b = append(b, `","medium":"`...)
		b = append(b, c.medium...)
		b = append(b, `","name":"`...)
		b = append(b, c.name...)
		b = append(b, `"}`...)
	}
	b = append(b, `,"library":{"name":"trackstream-loadgen","version":"1.0.0"}}`...)
	return b
}

// appendProperties writes type-specific event properties.
func (g *Generator) appendProperties(b []byte, typ string, pg page) []byte {
	switch typ {
	case "page-view":
		b = append(b, `{"title":`...)
		b = appendJSONString(b, pg.title)
		b = append(b, `,"path":`...)
		b = appendJSONString(b, pg.path)
		b = append(b, `,"load_ms":`...)
		b = strconv.AppendInt(b, int64(200+g.rng.IntN(2800)), 10)
		return append(b, '}')
	case "click":
		b = append(b, `{"element":"`...)
		b = append(b, elements[g.rng.IntN(len(elements))]...)
		b = append(b, `","x":`...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(1920)), 10)
		b = append(b, `,"y":`...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(4000)), 10)
		return append(b, '}')
	case "scroll":
		b = append(b, `{"depth_pct":`...)
		b = strconv.AppendInt(b, int64(25*(1+g.rng.IntN(4))), 10)
		return append(b, '}')
	case "search":
		b = append(b, `{"query":`...)
		b = appendJSONString(b, slugWords[g.rng.IntN(len(slugWords))]+" "+slugWords[g.rng.IntN(len(slugWords))])
		b = append(b, `,"results":`...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(200)), 10)
		return append(b, '}')
	case "add-to-cart", "purchase":
		b = append(b, `{"product_id":"sku-`...)
		b = strconv.AppendInt(b, int64(g.rng.IntN(20000)), 10)
		b = append(b, `","price":`...)
		b = strconv.AppendFloat(b, float64(99+g.rng.IntN(49900))/100, 'f', 2, 64)
		b = append(b, `,"currency":"EUR","quantity":`...)
		b = strconv.AppendInt(b, int64(1+g.rng.IntN(3)), 10)
		if typ == "purchase" {
			b = append(b, `,"order_id":"o-`...)
			b = strconv.AppendUint(b, g.rng.Uint64(), 36)
			b = append(b, '"')
		}
		return append(b, '}')
	default: // sign-up
		b = append(b, `{"plan":"`...)
		b = append(b, plans[g.rng.IntN(len(plans))]...)
		return append(b, `","method":"email"}`...)
	}
}

// appendJSONString appends s as a JSON string, escaping what JSON needs.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

func pickWeighted(rng *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	r := rng.IntN(total)
	for i, w := range weights {
		if r < w {
			return i
		}
		r -= w
	}
	return len(weights) - 1
}

// String describes the traffic for result files.
func (c GenConfig) String() string {
	c = c.withDefaults()
	return fmt.Sprintf("%s, %d event(s)/request, seed %d", c.Shape, c.EventsPerRequest, c.Seed)
}
