package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// maxAnswer bounds one answer (status line, headers and body) the
// generator reads.
const maxAnswer = 1 << 20

// answer is one parsed HTTP/1.1 answer.
type answer struct {
	status int
	body   []byte // a sub-slice of the buffer parsed
	size   int    // bytes of the buffer it took
	close  bool   // "Connection: close"
}

var errIncomplete = errors.New("incomplete answer")

// parseAnswer reads one HTTP/1.1 answer from the start of buf: the status
// line, the headers it needs (Content-Length, Transfer-Encoding: chunked,
// Connection: close) and the body. It returns errIncomplete when buf holds
// only a part of it; the body of a chunked answer is joined in place.
func parseAnswer(buf []byte) (answer, error) {
	var a answer
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		if len(buf) >= maxAnswer {
			return a, fmt.Errorf("answer headers over %d bytes", maxAnswer)
		}
		return a, errIncomplete
	}
	head := buf[:end+2]
	line, rest, _ := bytes.Cut(head, []byte("\r\n"))
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return a, fmt.Errorf("not an HTTP/1.x status line: %.40q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return a, fmt.Errorf("status line %.40q: no status code", line)
	}
	a.status = status
	length, chunked := -1, false
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 || n > maxAnswer {
				return a, fmt.Errorf("answer Content-Length %.40q: not a length up to %d", value, maxAnswer)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			a.close = bytes.EqualFold(value, []byte("close"))
		}
	}
	bodyAt := end + 4
	switch {
	case status < 200 || status == 204 || status == 304:
		a.size = bodyAt
	case chunked:
		// Check the whole body is there before joining it in place, so
		// an incomplete one can be parsed again.
		if _, err := parseChunked(buf, bodyAt, a, false); err != nil {
			return a, err
		}
		return parseChunked(buf, bodyAt, a, true)
	case length >= 0:
		if len(buf) < bodyAt+length {
			return a, errIncomplete
		}
		a.body, a.size = buf[bodyAt:bodyAt+length], bodyAt+length
	default:
		return a, errors.New("answer without Content-Length or chunked encoding")
	}
	return a, nil
}

// parseChunked reads a chunked body starting at buf[at:]; with join it
// moves the chunks' data together in place.
func parseChunked(buf []byte, at int, a answer, join bool) (answer, error) {
	out := at // where the joined body ends
	bodyAt := at
	for {
		nl := bytes.Index(buf[at:], []byte("\r\n"))
		if nl < 0 {
			return a, errIncomplete
		}
		sizeField, _, _ := bytes.Cut(bytes.TrimSpace(buf[at:at+nl]), []byte(";"))
		n, err := strconv.ParseUint(string(sizeField), 16, 31)
		if err != nil || n > maxAnswer {
			return a, fmt.Errorf("chunk size %.20q: not a size up to %d", sizeField, maxAnswer)
		}
		at += nl + 2
		if n == 0 {
			for { // trailers, then the final CRLF
				nl = bytes.Index(buf[at:], []byte("\r\n"))
				if nl < 0 {
					return a, errIncomplete
				}
				at += nl + 2
				if nl == 0 {
					a.body, a.size = buf[bodyAt:out], at
					return a, nil
				}
			}
		}
		if len(buf) < at+int(n)+2 {
			return a, errIncomplete
		}
		if join {
			copy(buf[out:], buf[at:at+int(n)])
		}
		out += int(n)
		at += int(n) + 2
	}
}
