package ingest

import (
	"bytes"

	"github.com/gofiber/fiber/v2"
)

// refuseAmbiguousFraming answers 400 and closes the connection when a
// request's length is framed ambiguously (RFC 9112 section 6.3):
// Content-Length together with Transfer-Encoding, several Content-Length
// values that differ, or a Transfer-Encoding that is not exactly chunked.
// A front proxy that frames such a request differently from this server
// could otherwise smuggle the rest of the body in as a second request;
// closing the connection drops whatever follows.
func refuseAmbiguousFraming(c *fiber.Ctx) error {
	// A plain loop over arrays on the stack: appending inside a range
	// over bytes.SplitSeq moved the lists to the heap on every request.
	var lengthsBuf, encodingsBuf [2][]byte
	lengths, encodings := lengthsBuf[:0], encodingsBuf[:0]
	for rest := c.Request().Header.RawHeaders(); len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		name, value, ok := bytes.Cut(bytes.TrimRight(line, "\r"), []byte(":"))
		if !ok {
			continue
		}
		switch {
		case bytes.EqualFold(bytes.TrimSpace(name), []byte(fiber.HeaderContentLength)):
			lengths = append(lengths, bytes.TrimSpace(value))
		case bytes.EqualFold(bytes.TrimSpace(name), []byte(fiber.HeaderTransferEncoding)):
			encodings = append(encodings, bytes.TrimSpace(value))
		}
	}
	reason := ""
	switch {
	case len(encodings) > 0 && len(lengths) > 0:
		reason = "the request has both Content-Length and Transfer-Encoding"
	case len(encodings) > 1 || len(encodings) == 1 && !bytes.EqualFold(encodings[0], []byte("chunked")):
		reason = "Transfer-Encoding must be exactly chunked"
	case len(lengths) > 1:
		for _, l := range lengths[1:] {
			if !bytes.Equal(l, lengths[0]) {
				reason = "the request has several different Content-Length values"
			}
		}
	}
	if reason == "" {
		return c.Next()
	}
	c.Context().SetConnectionClose()
	return badRequest("ambiguous_framing", "%s; the connection is closed", reason)
}
