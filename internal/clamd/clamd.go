// Package clamd is a client of ClamAV's scanning daemon, clamd, over its
// socket protocol (man clamd): PING, VERSION and INSTREAM, whose bytes a
// Stream sends as they come, so a file is scanned in the same pass that
// reads it for its other checks, without holding it in memory or on disk.
//
// It is Ferry's own because no Go client fits: the one the module proxy
// serves (github.com/dutchcoders/go-clamd) was last changed in 2017, takes
// an io.Reader rather than being written to, and has neither deadlines nor
// a context; the others cannot be had from the proxy. The protocol is a
// few lines: a command "zINSTREAM\x00", chunks of <uint32 big-endian
// length><bytes>, a zero-length chunk to end, and one NUL-terminated reply.
//
// Every failure is an error naming the clamd and what was being done, never
// a Result: only clamd's own verdict is a Result.
package clamd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ChunkSize is the most a Stream sends to clamd in one INSTREAM chunk;
// larger writes are split. clamd accepts any chunk up to StreamMaxLength.
const ChunkSize = 1 << 20

// ErrStreamTooLarge is clamd refusing a stream longer than its
// StreamMaxLength: nothing was scanned. Ferry's scanner.max_stream_bytes
// must not exceed that setting of clamd.conf.
var ErrStreamTooLarge = errors.New("clamd refused the stream: it is longer than clamd's StreamMaxLength (INSTREAM size limit exceeded); raise StreamMaxLength in clamd.conf or send less")

// Client reaches one clamd. It is safe for concurrent use: each call opens
// its own connection.
type Client struct {
	address string // as given: tcp://host:port or unix:///path
	network string // tcp or unix
	target  string // host:port or the socket's path
	timeout time.Duration
}

// New parses an address "tcp://host:port" or "unix:///path/to/clamd.ctl"
// (a bare host:port is refused: the scheme says which).
//
// timeout bounds the dial and each read and write on the connection, so a
// clamd that stops answering fails the call after it; a call's context can
// end it sooner. clamd scans a stream once it has all of it, so the read of
// the verdict waits for the whole scan: keep timeout above the longest scan
// clamd allows (MaxScanTime in clamd.conf, 2 minutes by default).
func New(address string, timeout time.Duration) (*Client, error) {
	network, target, err := parseAddress(address)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, fmt.Errorf("clamd %s: the timeout must be above zero (it bounds each read and write), got %s", address, timeout)
	}
	return &Client{address: address, network: network, target: target, timeout: timeout}, nil
}

func parseAddress(address string) (network, target string, err error) {
	if address == "" {
		return "", "", errors.New(`clamd address is empty: give "tcp://host:3310" or "unix:///run/clamav/clamd.ctl"`)
	}
	scheme, rest, ok := strings.Cut(address, "://")
	if !ok {
		if _, _, err := net.SplitHostPort(address); err == nil {
			return "", "", fmt.Errorf("clamd address %q has no scheme: write tcp://%s (or unix:///path for a socket)", address, address)
		}
		return "", "", fmt.Errorf(`clamd address %q is neither "tcp://host:port" nor "unix:///path/to/socket"`, address)
	}
	switch scheme {
	case "tcp":
		u, err := url.Parse(address)
		if err != nil || u.Path != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Hostname() == "" || u.Port() == "" {
			return "", "", fmt.Errorf(`clamd address %q: want "tcp://host:port", e.g. tcp://127.0.0.1:3310`, address)
		}
		if p, err := strconv.ParseUint(u.Port(), 10, 16); err != nil || p == 0 {
			return "", "", fmt.Errorf("clamd address %q: port %q is not a port number (1-65535)", address, u.Port())
		}
		return "tcp", u.Host, nil
	case "unix":
		if !filepath.IsAbs(rest) || filepath.Clean(rest) != rest {
			return "", "", fmt.Errorf(`clamd address %q: want an absolute socket path, "unix:///run/clamav/clamd.ctl" (three slashes)`, address)
		}
		return "unix", rest, nil
	}
	return "", "", fmt.Errorf(`clamd address %q: scheme %q is not tcp or unix`, address, scheme)
}

// Address is the address the client was made with.
func (c *Client) Address() string { return c.address }

// Ping asks clamd whether it serves: nil when it answers PONG.
func (c *Client) Ping(ctx context.Context) error {
	reply, err := c.command(ctx, "PING", "zPING\x00")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("clamd %s: PING: unexpected reply %q (want PONG): is this a clamd?", c.address, reply)
	}
	return nil
}

// Version is what clamd says it runs.
type Version struct {
	Engine       string    // "ClamAV 1.4.6"
	Database     string    // the daily database's version, "27000"; "" when clamd has no official database (only local signatures)
	DatabaseTime time.Time // when that database was built; zero if not given (clamd prints its local time: read as UTC)
	Raw          string    // the reply as it came, "ClamAV 1.4.6/27000/Tue Nov 24 08:00:00 2026"
}

// Version asks clamd which engine and signature database it runs.
func (c *Client) Version(ctx context.Context) (Version, error) {
	reply, err := c.command(ctx, "VERSION", "zVERSION\x00")
	if err != nil {
		return Version{}, err
	}
	v, ok := parseVersion(reply)
	if !ok {
		return Version{}, fmt.Errorf("clamd %s: VERSION: unexpected reply %q (want \"ClamAV x.y.z[/database/date]\")", c.address, reply)
	}
	return v, nil
}

func parseVersion(reply string) (Version, bool) {
	parts := strings.SplitN(reply, "/", 3)
	v := Version{Engine: parts[0], Raw: reply}
	if !strings.HasPrefix(v.Engine, "ClamAV ") {
		return Version{}, false
	}
	if len(parts) > 1 {
		v.Database = parts[1]
	}
	if len(parts) > 2 {
		// ctime(3) format; a date that does not parse leaves the time zero
		// rather than the answer unusable (Raw keeps it).
		v.DatabaseTime, _ = time.ParseInLocation(time.ANSIC, parts[2], time.UTC)
	}
	return v, true
}

// command sends a command that needs no data and returns the reply.
func (c *Client) command(ctx context.Context, name, wire string) (string, error) {
	cn, err := c.dial(ctx, name)
	if err != nil {
		return "", err
	}
	defer cn.close()
	if err := cn.write(name, []byte(wire)); err != nil {
		return "", err
	}
	return cn.readReply(name)
}

// conn is one connection to clamd, for one command. Its deadlines come from
// the client's timeout per read and write, and from the context, which
// ends a blocked read or write at once when it is done.
type conn struct {
	c     *Client
	ctx   context.Context
	nc    net.Conn
	stop  func() bool // stops watching ctx
	mu    sync.Mutex  // guards done and the deadline
	done  bool        // ctx ended: no new deadline may lift the one in the past
	close func()      // closes the connection once
}

func (c *Client) dial(ctx context.Context, what string) (*conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("clamd %s: %s: %w", c.address, what, err)
	}
	d := net.Dialer{Timeout: c.timeout}
	nc, err := d.DialContext(ctx, c.network, c.target)
	if err != nil {
		return nil, fmt.Errorf("clamd %s: %s: connecting: %w (is clamd running and listening there?)", c.address, what, err)
	}
	cn := &conn{c: c, ctx: ctx, nc: nc}
	cn.close = sync.OnceFunc(func() {
		cn.stop()
		_ = nc.Close()
	})
	cn.stop = context.AfterFunc(ctx, func() {
		cn.mu.Lock()
		defer cn.mu.Unlock()
		cn.done = true
		_ = nc.SetDeadline(time.Unix(1, 0))
	})
	return cn, nil
}

// arm sets the deadline for the next read or write, unless ctx has ended.
func (cn *conn) arm() error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.done {
		return cn.ctx.Err()
	}
	return cn.nc.SetDeadline(time.Now().Add(cn.c.timeout))
}

func (cn *conn) write(what string, b ...[]byte) error {
	if err := cn.send(b...); err != nil {
		return cn.fail(what, "sending", err)
	}
	return nil
}

// send writes b (in one writev) within the timeout; its error is the
// network's, for the caller to wrap.
func (cn *conn) send(b ...[]byte) error {
	if err := cn.arm(); err != nil {
		return err
	}
	bufs := net.Buffers(b)
	_, err := bufs.WriteTo(cn.nc)
	return err
}

// maxReply bounds what is read of a reply: clamd's are one short line.
const maxReply = 4096

// readReply reads one NUL-terminated reply (all commands are sent with the
// z prefix, so clamd terminates its replies with NUL).
func (cn *conn) readReply(what string) (string, error) {
	buf := make([]byte, 0, 256)
	for {
		if err := cn.arm(); err != nil {
			return "", cn.fail(what, "reading the reply", err)
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := cn.nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			return string(buf[:i]), nil
		}
		if len(buf) > maxReply {
			return "", fmt.Errorf("clamd %s: %s: reply longer than %d bytes without its NUL terminator: %q...", cn.c.address, what, maxReply, buf[:64])
		}
		switch {
		case err == nil:
		case len(buf) > 0 && !cn.interrupted(err):
			// Not a reply to a z command: clamd's own complaints end
			// with a newline. The close may come as a reset, when clamd
			// left some of what was sent unread.
			text := strings.TrimRight(string(buf), "\n")
			hint := ""
			if text == "COMMAND READ TIMED OUT" {
				hint = " (nothing came for longer than clamd's ReadTimeout)"
			}
			return "", fmt.Errorf("clamd %s: %s: clamd replied %q and closed the connection%s", cn.c.address, what, text, hint)
		case len(buf) > 0:
			return "", cn.fail(what, fmt.Sprintf("reading the reply (%q so far)", buf), err)
		default:
			return "", cn.fail(what, "reading the reply", err)
		}
	}
}

// fail says what went wrong: the context's end, the client's timeout, or
// the network's error.
func (cn *conn) fail(what, doing string, err error) error {
	if ctxErr := cn.ctx.Err(); ctxErr != nil && (cn.isDone() || errors.Is(err, ctxErr)) {
		return fmt.Errorf("clamd %s: %s: %s: stopped: %w", cn.c.address, what, doing, ctxErr)
	}
	if errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("clamd %s: %s: %s: the scan was aborted: %w", cn.c.address, what, doing, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("clamd %s: %s: %s: clamd did not answer within %s: %w", cn.c.address, what, doing, cn.c.timeout, err)
	}
	return fmt.Errorf("clamd %s: %s: %s: %w", cn.c.address, what, doing, err)
}

// interrupted: err is the timeout's or the context's, not the network's.
func (cn *conn) interrupted(err error) bool {
	var ne net.Error
	return cn.isDone() || errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout())
}

func (cn *conn) isDone() bool {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.done
}
