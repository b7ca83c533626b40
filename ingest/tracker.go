package ingest

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/trackstream/trackstream/internal/tracker"
)

// TrackerPath serves the browser tracker (internal/tracker). With
// ?v=<version> of the current build it may be cached for a year
// (immutable); the plain URL is cached for an hour, so an upgrade reaches
// sites within the hour. Both revalidate by ETag.
const TrackerPath = "/ts.js"

// Cache lifetimes of the tracker, in seconds.
const (
	trackerMaxAge          = 60 * 60
	trackerVersionedMaxAge = 365 * 24 * 60 * 60
)

// trackerHandler answers the tracker script.
func trackerHandler(s tracker.Script) fiber.Handler {
	etag := `"` + s.Version + `"`
	versioned := "public, max-age=" + strconv.Itoa(trackerVersionedMaxAge) + ", immutable"
	plain := "public, max-age=" + strconv.Itoa(trackerMaxAge)
	return func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderETag, etag)
		c.Vary(fiber.HeaderAcceptEncoding)
		c.Set(fiber.HeaderContentLocation, TrackerPath+"?v="+s.Version)
		if c.Query("v") == s.Version {
			c.Set(fiber.HeaderCacheControl, versioned)
		} else {
			c.Set(fiber.HeaderCacheControl, plain)
		}
		if inm := c.Get(fiber.HeaderIfNoneMatch); inm == "*" || strings.Contains(inm, etag) {
			return c.SendStatus(fiber.StatusNotModified)
		}
		c.Set(fiber.HeaderContentType, "text/javascript; charset=utf-8")
		c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
		// Pages isolated with Cross-Origin-Embedder-Policy may load it.
		c.Set("Cross-Origin-Resource-Policy", "cross-origin")
		if acceptsGzip(c.Get(fiber.HeaderAcceptEncoding)) {
			c.Set(fiber.HeaderContentEncoding, "gzip")
			return c.Send(s.Gzip)
		}
		return c.Send(s.JS)
	}
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip (and
// does not refuse it with q=0).
func acceptsGzip(h string) bool {
	for _, part := range strings.Split(h, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}
