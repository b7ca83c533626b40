package ingest

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// preflightMaxAge is how long browsers may cache a preflight answer
// (browsers cap it: Chromium at 2 hours, Firefox at 24).
const preflightMaxAge = 24 * 60 * 60

// cors lets browsers on any origin read the collector's answers. A source
// with an origin allowlist is answered with the origin itself (see
// collect), and a request from an origin it does not allow is refused with
// 403 before anything is produced. Credentials are never allowed:
// collection needs no cookies.
func (s *Server) cors(c *fiber.Ctx) error {
	if c.Get(fiber.HeaderOrigin) != "" {
		c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
		c.Set(fiber.HeaderAccessControlExposeHeaders, fiber.HeaderRetryAfter)
	}
	return c.Next()
}

// allowedHeaders are the request headers browsers may send: any (the
// collector reads only the body's type and encoding and the Basic
// authorization, and never allows credentials, so no header can do harm).
// SDKs add headers of their own: analytics.js X-Retry-Count, RudderStack's
// analytics-js AnonymousId, SentAt and RSA-Retry-*. Authorization is never
// covered by "*", so it is named.
const allowedHeaders = "Authorization, *"

// preflight answers a CORS preflight. The source is not known before the
// body arrives, so the preflight allows every origin and the real request
// is checked against the source's allowlist. Content-Type text/plain
// (navigator.sendBeacon, analytics.js) needs no preflight at all.
func (s *Server) preflight(c *fiber.Ctx) error {
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return c.SendStatus(fiber.StatusNoContent)
	}
	c.Set(fiber.HeaderAccessControlAllowOrigin, "*")
	c.Set(fiber.HeaderAccessControlAllowMethods, "POST, GET, OPTIONS")
	c.Set(fiber.HeaderAccessControlAllowHeaders, allowedHeaders)
	c.Set(fiber.HeaderAccessControlMaxAge, strconv.Itoa(preflightMaxAge))
	return c.SendStatus(fiber.StatusNoContent)
}

// parseBasicAuth decodes an HTTP Basic Authorization header. Segment's
// libraries send the write key as the username and an empty password.
func parseBasicAuth(h string) (user, pass string, ok bool) {
	const prefix = "basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", "", false
	}
	dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(dec), ":")
	if !ok {
		return "", "", false
	}
	return user, pass, true
}
