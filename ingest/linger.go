package ingest

import (
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// A body declared (or found, when chunked) larger than
// TRACKSTREAM_INGEST_MAX_BODY_BYTES is refused by fasthttp before any of
// it is read, and the connection is closed. Closing a socket with unread
// bytes makes the kernel send a reset, and the client's kernel then drops
// the 413 it had already received: the client sees a network fault and
// retries. So such a connection is half-closed after the answer and the
// rest of the body is read and thrown away (in a small fixed buffer,
// never kept), up to lingerBytes or lingerTime, whichever comes first;
// only then is it closed.
const (
	lingerBytes = 16 << 20
	lingerTime  = 5 * time.Second
)

// lingerListener hands out connections that can linger on close.
type lingerListener struct{ net.Listener }

func (l lingerListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &lingerConn{Conn: c}, nil
}

// lingerConn is a connection whose Close first discards what the client
// is still sending, once lingerOnClose asked for it.
type lingerConn struct {
	net.Conn
	linger atomic.Bool
}

// lingerOnClose marks the connection of c, refused with an unread body,
// to be drained before it is closed. Connections not from a
// lingerListener (fiber's in-memory tests) are left alone.
func lingerOnClose(c *fiber.Ctx) {
	if lc, ok := c.Context().Conn().(*lingerConn); ok {
		lc.linger.Store(true)
	}
}

func (c *lingerConn) Close() error {
	if c.linger.Swap(false) {
		if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTime))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerBytes)
	}
	return c.Conn.Close()
}
