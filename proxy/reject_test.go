package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A rejected request with a small body keeps its connection: the next
// request on it is answered too (a flood of bad tokens stays cheap).
func TestRejectedSmallBodyKeepsConnection(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr()})
	conn, br := openConn(t, p.addr)
	body := `{"model":"llama3.2:1b","prompt":"hi"}`
	for i := 0; i < 3; i++ {
		_, _ = io.WriteString(conn, "POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nContent-Length: "+
			strconv.Itoa(len(body))+"\r\n\r\n"+body)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d on the same connection: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 401 || resp.Close {
			t.Fatalf("request %d: status %d, close %v; want 401 on a kept-alive connection", i, resp.StatusCode, resp.Close)
		}
	}
	if n := len(be.requests()); n != 0 {
		t.Fatalf("the backend saw %d rejected requests", n)
	}
}

// A declared body that never comes still gets its 401 (after the short
// drain), and the connection is closed rather than left waiting.
func TestRejectedBodyNeverSentIsAnsweredFirst(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr()})
	conn, br := openConn(t, p.addr)
	_, _ = io.WriteString(conn, "POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no 401 before the body arrived: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 401 || !resp.Close {
		t.Fatalf("status %d, close %v; want 401 and Connection: close", resp.StatusCode, resp.Close)
	}
	if _, err := br.ReadByte(); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("the connection stayed open past the drain deadline (err %v)", err)
	}
}

// A refused request waiting for 100 Continue is never invited to send its
// body: the first and only answer is the 401.
func TestRejectedExpectContinueGetsNo100(t *testing.T) {
	be := newBackend(t, nil)
	p := startProxy(t, Config{BackendAddr: be.addr()})
	conn, br := openConn(t, p.addr)
	_, _ = io.WriteString(conn, "POST /api/generate HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("first answer %d, want 401", resp.StatusCode)
	}
}

// openConn dials the proxy for a hand-written exchange that needs the
// connection afterwards; it is closed when the test ends.
func openConn(t testing.TB, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	return conn, bufio.NewReader(conn)
}
