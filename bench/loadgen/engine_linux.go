//go:build linux

package loadgen

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// engine sends the load from one goroutine over non-blocking sockets and
// one epoll instance, the way wrk does: per request one write, one read,
// no goroutine hand-offs and no timer of its own (the loop sleeps in
// epoll until the next tick or answer). Requests are encoded once into a
// buffer per connection; answers are parsed in place.
type engine struct {
	o           Options
	ids         *idSink
	m           *measured
	sa          unix.Sockaddr
	family      int
	ep          int
	conns       []*conn
	free        []*conn // idle connections, used last-in first-out
	busy        int
	start       time.Time
	measureFrom time.Time
	zw          *gzip.Writer
	zbuf        bytes.Buffer
	pwait2      bool // epoll_pwait2 works (nanosecond timeouts)
}

// conn is one keep-alive HTTP/1.1 connection with at most one request in
// flight.
type conn struct {
	index    int
	fd       int // -1 while closed
	gen      *Generator
	req      []byte // the prepared request
	written  int    // bytes of req written so far
	bodyN    int    // its body's length
	ids      []string
	rbuf     []byte
	busy     bool
	watchOut bool // waiting for the socket to be writable
	intended time.Time
	sent     time.Time
}

func runEngine(ctx context.Context, o Options, ids *idSink) (*measured, error) {
	addr, err := net.ResolveTCPAddr("tcp", o.Target)
	if err != nil {
		return nil, fmt.Errorf("loadgen: target %q: %w", o.Target, err)
	}
	e := &engine{o: o, ids: ids, pwait2: true}
	if ip4 := addr.IP.To4(); ip4 != nil {
		sa := &unix.SockaddrInet4{Port: addr.Port}
		copy(sa.Addr[:], ip4)
		e.sa, e.family = sa, unix.AF_INET
	} else {
		sa := &unix.SockaddrInet6{Port: addr.Port}
		copy(sa.Addr[:], addr.IP.To16())
		e.sa, e.family = sa, unix.AF_INET6
	}
	e.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("loadgen: epoll: %w", err)
	}
	defer unix.Close(e.ep)
	if o.Gzip {
		e.zw, _ = gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	}
	e.conns = make([]*conn, o.Conns)
	for i := range e.conns {
		c := &conn{index: i, fd: -1, gen: NewGenerator(o.Gen, i), rbuf: make([]byte, 0, 4096)}
		_ = e.dial(c) // a connection that cannot dial now dials when given a request
		e.prepare(c)
		e.conns[i] = c
	}
	// LIFO: the first connections are used first.
	for i := len(e.conns) - 1; i >= 0; i-- {
		e.free = append(e.free, e.conns[i])
	}
	defer func() {
		for _, c := range e.conns {
			e.closeFD(c)
		}
	}()
	e.start = time.Now()
	e.measureFrom = e.start.Add(o.Warmup)
	e.m = &measured{stats: stats{hist: NewHistogram(), status: map[int]int64{}}, lag: NewHistogram(), total: -1,
		timeline: newTimeline(e.start, o.Duration)}
	if o.Rate > 0 {
		e.m.total = int64(o.Duration.Seconds() * o.Rate)
	}
	if err := e.loop(ctx); err != nil {
		return nil, err
	}
	e.m.elapsed = time.Since(e.start)
	return e.m, nil
}

// slotTime is the intended send time of open-loop request slot.
func (e *engine) slotTime(slot int64) time.Time {
	return e.start.Add(time.Duration(float64(slot) / e.o.Rate * 1e9).Truncate(tick))
}

func (e *engine) loop(ctx context.Context) error {
	o, m := e.o, e.m
	end := e.start.Add(o.Duration)
	giveUp := end.Add(o.Timeout + time.Second)
	events := make([]unix.EpollEvent, 256)
	var slot int64
	var retry []*conn // connections that failed to dial this round
	nextExpiry := e.start.Add(100 * time.Millisecond)
	for {
		now := time.Now()
		sending := now.Before(end)
		select {
		case <-ctx.Done():
			sending = false
			giveUp = now
		default:
		}
		for sending && len(e.free) > 0 && (m.total < 0 || slot < m.total) {
			intended := now
			if m.total >= 0 {
				intended = e.slotTime(slot)
				if intended.After(now) {
					break
				}
				d := now.Sub(intended)
				m.lag.RecordDuration(d)
				if d > time.Millisecond {
					m.late++
				}
			}
			slot++
			m.attempted++
			c := e.free[len(e.free)-1]
			e.free = e.free[:len(e.free)-1]
			if !e.dispatch(c, intended, now) {
				retry = append(retry, c)
			}
		}
		e.free = append(e.free, retry...)
		retry = retry[:0]
		if (!sending && e.busy == 0) || !now.Before(giveUp) {
			return nil
		}
		if !now.Before(nextExpiry) {
			e.expire(now)
			nextExpiry = now.Add(100 * time.Millisecond)
		}
		wakeAt := nextExpiry
		if sending {
			wakeAt = earliest(wakeAt, end)
			if len(e.free) > 0 {
				if m.total < 0 {
					wakeAt = now
				} else if slot < m.total {
					wakeAt = earliest(wakeAt, e.slotTime(slot))
				}
			}
		} else {
			wakeAt = earliest(wakeAt, giveUp)
		}
		n, err := e.wait(events, wakeAt.Sub(now))
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			e.ready(e.conns[ev.Fd], ev.Events)
		}
	}
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// wait sleeps in epoll for at most d.
func (e *engine) wait(events []unix.EpollEvent, d time.Duration) (int, error) {
	d = max(d, 0)
	for {
		var n int
		var err error
		if e.pwait2 {
			ts := unix.NsecToTimespec(int64(d))
			r, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT2, uintptr(e.ep), uintptr(unsafe.Pointer(&events[0])),
				uintptr(len(events)), uintptr(unsafe.Pointer(&ts)), 0, 0)
			n = int(r)
			if errno != 0 {
				err = errno
			}
			if errors.Is(err, unix.ENOSYS) { // Linux before 5.11
				e.pwait2 = false
				continue
			}
		} else {
			n, err = unix.EpollWait(e.ep, events, int((d+time.Millisecond-1)/time.Millisecond))
		}
		switch {
		case errors.Is(err, unix.EINTR):
			return 0, nil
		case err != nil:
			return 0, fmt.Errorf("loadgen: epoll wait: %w", err)
		}
		return n, nil
	}
}

// dial connects c (non-blocking) and watches it for answers.
func (e *engine) dial(c *conn) error {
	fd, err := unix.Socket(e.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socket: %w", err)
	}
	err = unix.Connect(fd, e.sa)
	if errors.Is(err, unix.EINPROGRESS) {
		err = waitConnected(fd, e.o.Timeout)
	}
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if err == nil {
		err = unix.EpollCtl(e.ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(c.index)})
	}
	if err != nil {
		_ = unix.Close(fd)
		return fmt.Errorf("dial %s: %w", e.o.Target, err)
	}
	c.fd, c.rbuf, c.watchOut = fd, c.rbuf[:0], false
	return nil
}

// waitConnected waits for a non-blocking connect to finish.
func waitConnected(fd int, timeout time.Duration) error {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		n, err := unix.Poll(pfd, int(timeout/time.Millisecond))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("connect timed out after %s", timeout)
		}
		soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			return err
		}
		if soErr != 0 {
			return unix.Errno(soErr)
		}
		return nil
	}
}

func (e *engine) closeFD(c *conn) {
	if c.fd >= 0 {
		_ = unix.Close(c.fd) // also leaves the epoll set
		c.fd = -1
	}
}

// prepare encodes c's next request.
func (e *engine) prepare(c *conn) {
	o := &e.o
	body, ids := c.gen.Next()
	if e.zw != nil {
		e.zbuf.Reset()
		e.zw.Reset(&e.zbuf)
		_, _ = e.zw.Write(body)
		_ = e.zw.Close()
		body = e.zbuf.Bytes()
	}
	c.ids, c.bodyN = ids, len(body)
	r := append(c.req[:0], "POST "...)
	r = append(r, o.Path...)
	r = append(r, " HTTP/1.1\r\nHost: "...)
	r = append(r, o.Target...)
	r = append(r, "\r\nContent-Type: application/json\r\n"...)
	if e.zw != nil {
		r = append(r, "Content-Encoding: gzip\r\n"...)
	}
	r = append(r, "Content-Length: "...)
	r = strconv.AppendInt(r, int64(len(body)), 10)
	r = append(r, "\r\n\r\n"...)
	c.req = append(r, body...)
}

// dispatch sends c's prepared request, dialing first if c is closed. It
// reports false if c could not dial (the request is recorded as failed).
func (e *engine) dispatch(c *conn, intended, now time.Time) bool {
	c.intended, c.sent, c.written = intended, now, 0
	if c.fd < 0 {
		if err := e.dial(c); err != nil {
			e.finish(c, now, 0, nil, err)
			return false
		}
	}
	c.busy = true
	e.busy++
	e.write(c)
	return true
}

// write writes what is left of c's request; a full socket buffer makes it
// wait for the socket to be writable.
func (e *engine) write(c *conn) {
	for c.written < len(c.req) {
		n, err := rawWrite(c.fd, c.req[c.written:])
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.EAGAIN) {
			if !c.watchOut {
				c.watchOut = true
				e.watch(c, unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLOUT)
			}
			return
		}
		if err != nil {
			e.broken(c, fmt.Errorf("write: %w", err))
			return
		}
		c.written += n
	}
	if c.watchOut {
		c.watchOut = false
		e.watch(c, unix.EPOLLIN|unix.EPOLLRDHUP)
	}
}

func (e *engine) watch(c *conn, events uint32) {
	if err := unix.EpollCtl(e.ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: events, Fd: int32(c.index)}); err != nil {
		e.broken(c, fmt.Errorf("epoll: %w", err))
	}
}

// ready handles an epoll event of c.
func (e *engine) ready(c *conn, events uint32) {
	if c.fd < 0 {
		return
	}
	if events&unix.EPOLLOUT != 0 && c.busy {
		e.write(c)
		if c.fd < 0 {
			return
		}
	}
	if events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP|unix.EPOLLRDHUP) == 0 {
		return
	}
	if len(c.rbuf) == cap(c.rbuf) {
		if cap(c.rbuf) >= maxAnswer {
			e.broken(c, fmt.Errorf("answer over %d bytes", maxAnswer))
			return
		}
		c.rbuf = append(c.rbuf, make([]byte, cap(c.rbuf))...)[:len(c.rbuf)]
	}
	n, err := rawRead(c.fd, c.rbuf[len(c.rbuf):cap(c.rbuf)])
	switch {
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
		return
	case err != nil:
		e.broken(c, fmt.Errorf("read: %w", err))
		return
	case n == 0:
		e.broken(c, errors.New("the server closed the connection"))
		return
	}
	c.rbuf = c.rbuf[:len(c.rbuf)+n]
	if !c.busy {
		e.broken(c, fmt.Errorf("an answer to no request: %.60q", c.rbuf))
		return
	}
	a, err := parseAnswer(c.rbuf)
	if errors.Is(err, errIncomplete) {
		return
	}
	if err != nil {
		e.broken(c, err)
		return
	}
	if a.size != len(c.rbuf) {
		e.broken(c, errors.New("the server sent more than one answer"))
		return
	}
	e.finish(c, time.Now(), a.status, a.body, nil)
	c.rbuf = c.rbuf[:0]
	if a.close {
		e.closeFD(c)
	}
}

// broken closes c after a transport failure; a request in flight is
// recorded as failed.
func (e *engine) broken(c *conn, err error) {
	e.closeFD(c)
	if c.busy {
		e.finish(c, time.Now(), 0, nil, err)
	}
}

// expire fails the requests in flight for longer than the timeout.
func (e *engine) expire(now time.Time) {
	for _, c := range e.conns {
		if c.busy && now.Sub(c.sent) > e.o.Timeout {
			e.broken(c, fmt.Errorf("no answer within %s", e.o.Timeout))
		}
	}
}

// finish records c's request and makes c free with its next request.
func (e *engine) finish(c *conn, done time.Time, status int, body []byte, err error) {
	e.m.record(&e.o, e.ids, c.intended, done, e.measureFrom, c.ids, c.bodyN, status, body, err)
	if c.busy {
		c.busy = false
		e.busy--
		e.free = append(e.free, c)
	}
	e.prepare(c)
}

// rawWrite and rawRead are write(2) and read(2) on non-blocking sockets
// without the Go scheduler's system call hand-off: they never block.
func rawWrite(fd int, b []byte) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}

func rawRead(fd int, b []byte) (int, error) {
	r, _, errno := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
