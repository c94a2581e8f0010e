package clamd

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// What a user meets is tested against the real clamd (integration tier).
// These cover addresses and replies as text, and the wire's failures the
// real clamd cannot be made to produce.

func TestNewTakesTCPAndUnixAddresses(t *testing.T) {
	for _, tc := range []struct{ address, network, target string }{
		{"tcp://127.0.0.1:3310", "tcp", "127.0.0.1:3310"},
		{"tcp://clamav.scanning.svc:3310", "tcp", "clamav.scanning.svc:3310"},
		{"tcp://[::1]:3310", "tcp", "[::1]:3310"},
		{"unix:///run/clamav/clamd.ctl", "unix", "/run/clamav/clamd.ctl"},
	} {
		c, err := New(tc.address, time.Second)
		if err != nil {
			t.Errorf("New(%q): %v", tc.address, err)
			continue
		}
		if c.network != tc.network || c.target != tc.target || c.Address() != tc.address {
			t.Errorf("New(%q) = %s %s (Address %q), want %s %s", tc.address, c.network, c.target, c.Address(), tc.network, tc.target)
		}
	}
}

func TestNewRefusesWhatIsNotAnAddress(t *testing.T) {
	for _, tc := range []struct{ address, want string }{
		{"127.0.0.1:3310", "write tcp://127.0.0.1:3310"},
		{"localhost:3310", "write tcp://localhost:3310"},
		{"", "address is empty"},
		{"clamd", `neither "tcp://host:port"`},
		{"http://127.0.0.1:3310", `scheme "http" is not tcp or unix`},
		{"tcp://127.0.0.1", `want "tcp://host:port"`},
		{"tcp://:3310", `want "tcp://host:port"`},
		{"tcp://127.0.0.1:3310/x", `want "tcp://host:port"`},
		{"tcp://127.0.0.1:0", "not a port number"},
		{"tcp://127.0.0.1:70000", "not a port number"},
		{"unix://run/clamav/clamd.ctl", "absolute socket path"},
		{"unix:///run/clamav/../clamd.ctl", "absolute socket path"},
	} {
		_, err := New(tc.address, time.Second)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%q) = %v, want an error saying %q", tc.address, err, tc.want)
		}
	}
	if _, err := New("tcp://127.0.0.1:3310", 0); err == nil || !strings.Contains(err.Error(), "timeout must be above zero") {
		t.Errorf("New with no timeout = %v, want it refused", err)
	}
}

func TestScanRepliesAreVerdictsOrErrors(t *testing.T) {
	for _, tc := range []struct {
		reply   string
		want    Result
		wantErr string
	}{
		{reply: "stream: OK", want: Result{Clean: true, Raw: "stream: OK"}},
		{reply: "stream: Eicar-Signature FOUND", want: Result{Signature: "Eicar-Signature", Raw: "stream: Eicar-Signature FOUND"}},
		{reply: "stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND", want: Result{Signature: "Heuristics.Limits.Exceeded.MaxScanSize", LimitsExceeded: true, Raw: "stream: Heuristics.Limits.Exceeded.MaxScanSize FOUND"}},
		{reply: "INSTREAM size limit exceeded. ERROR", wantErr: ErrStreamTooLarge.Error()},
		{reply: "stream: Can't allocate memory ERROR", wantErr: "could not scan"},
		{reply: "COMMAND READ TIMED OUT", wantErr: "unexpected reply"},
		{reply: "", wantErr: "unexpected reply"},
		{reply: "stream: ", wantErr: "unexpected reply"},
		{reply: "stream:  FOUND", wantErr: "unexpected reply"},
		{reply: "stream: OKAY", wantErr: "unexpected reply"},
		{reply: "PONG", wantErr: "unexpected reply"},
	} {
		got, err := parseScanReply(tc.reply)
		switch {
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("reply %q: %+v, %v; want an error saying %q", tc.reply, got, err, tc.wantErr)
		case tc.wantErr != "" && got.Clean:
			t.Errorf("reply %q: an error and a clean result", tc.reply)
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("reply %q: %+v, %v; want %+v", tc.reply, got, err, tc.want)
		}
	}
	if _, err := parseScanReply("INSTREAM size limit exceeded. ERROR"); !errors.Is(err, ErrStreamTooLarge) {
		t.Errorf("size limit reply: %v, want ErrStreamTooLarge", err)
	}
}

// clamd gives its database's version and date only when it has Cisco's
// signed daily database, which the tests' clamd cannot have.
func TestVersionReplies(t *testing.T) {
	for _, tc := range []struct {
		reply string
		want  Version
		ok    bool
	}{
		{"ClamAV 1.4.6/27000/Tue Nov 24 08:00:00 2026", Version{Engine: "ClamAV 1.4.6", Database: "27000", DatabaseTime: time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC), Raw: "ClamAV 1.4.6/27000/Tue Nov 24 08:00:00 2026"}, true},
		{"ClamAV 1.4.6/27000/Thu Dec  3 09:41:02 2026", Version{Engine: "ClamAV 1.4.6", Database: "27000", DatabaseTime: time.Date(2026, 12, 3, 9, 41, 2, 0, time.UTC), Raw: "ClamAV 1.4.6/27000/Thu Dec  3 09:41:02 2026"}, true},
		{"ClamAV 1.4.6", Version{Engine: "ClamAV 1.4.6", Raw: "ClamAV 1.4.6"}, true},
		{"ClamAV 1.4.6/27000/someday", Version{Engine: "ClamAV 1.4.6", Database: "27000", Raw: "ClamAV 1.4.6/27000/someday"}, true},
		{"PONG", Version{}, false},
		{"", Version{}, false},
	} {
		got, ok := parseVersion(tc.reply)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseVersion(%q) = %+v, %v; want %+v, %v", tc.reply, got, ok, tc.want, tc.ok)
		}
	}
}

// fake is a server that speaks as a broken clamd would: serve gets each
// connection.
func fake(t *testing.T, serve func(net.Conn)) *Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); serve(c) }()
		}
	}()
	c, err := New("tcp://"+l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readCommand reads up to the command's NUL.
func readCommand(c net.Conn) string {
	var b [1]byte
	var cmd []byte
	for {
		if _, err := c.Read(b[:]); err != nil || b[0] == 0 {
			return string(cmd)
		}
		cmd = append(cmd, b[0])
	}
}

func scanEICARLike(t *testing.T, c *Client) (Result, error) {
	t.Helper()
	s, err := c.Scan(context.Background())
	if err != nil {
		return Result{}, err
	}
	for range 8 {
		if _, err := s.Write(make([]byte, ChunkSize)); err != nil {
			return Result{}, err
		}
	}
	return s.Close()
}

func TestAGarbledReplyIsAnError(t *testing.T) {
	for _, reply := range []string{"stream: fine\x00", "\x00", "garbage without end", "stream: OK"} {
		c := fake(t, func(conn net.Conn) {
			readCommand(conn)
			_, _ = io.Copy(io.Discard, io.LimitReader(conn, 8*(ChunkSize+4)+4))
			_, _ = conn.Write([]byte(reply))
		})
		res, err := scanEICARLike(t, c)
		if err == nil || res.Clean {
			t.Errorf("reply %q: %+v, %v; want an error", reply, res, err)
			continue
		}
		if !strings.Contains(err.Error(), c.Address()) {
			t.Errorf("reply %q: error %q does not name the clamd", reply, err)
		}
	}
}

func TestAConnectionResetMidStreamIsAnError(t *testing.T) {
	c := fake(t, func(conn net.Conn) {
		readCommand(conn)
		_, _ = io.CopyN(io.Discard, conn, ChunkSize)
		_ = conn.(*net.TCPConn).SetLinger(0) // close with a reset
	})
	res, err := scanEICARLike(t, c)
	if err == nil || res.Clean {
		t.Fatalf("reset mid-stream: %+v, %v; want an error", res, err)
	}
	if !strings.Contains(err.Error(), c.Address()) || !strings.Contains(err.Error(), "INSTREAM") {
		t.Errorf("error %q does not say what failed where", err)
	}
}

// clamd answers a stream that stalls for longer than its ReadTimeout (120 s
// by default; seen with ReadTimeout 3) with a newline-terminated complaint
// and closes the connection.
func TestAStreamClamdTimedOutIsAnErrorSayingWhy(t *testing.T) {
	c := fake(t, func(conn net.Conn) {
		readCommand(conn)
		_, _ = io.CopyN(io.Discard, conn, 4+5)
		_, _ = conn.Write([]byte("COMMAND READ TIMED OUT\n"))
	})
	s, err := c.Scan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	res, err := s.Close()
	if err == nil || res.Clean || !strings.Contains(err.Error(), `replied "COMMAND READ TIMED OUT"`) || !strings.Contains(err.Error(), "ReadTimeout") {
		t.Fatalf("clamd timed out: %+v, %v", res, err)
	}
}

func TestPingWantsPONG(t *testing.T) {
	c := fake(t, func(conn net.Conn) {
		readCommand(conn)
		_, _ = conn.Write([]byte("PANG\x00"))
	})
	if err := c.Ping(context.Background()); err == nil || !strings.Contains(err.Error(), `"PANG"`) {
		t.Errorf("Ping answered PANG: %v", err)
	}
}
