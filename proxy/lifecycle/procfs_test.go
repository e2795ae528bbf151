package lifecycle

import (
	"net"
	"os"
	"strings"
	"testing"
)

func TestParseNetTCP(t *testing.T) {
	const tbl = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:2CAA 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 111 1 0 100 0 0 10 0
   1: 00000000:2CAB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 222 1 0 100 0 0 10 0
   2: 0100007F:2CAA 0100007F:9C40 01 00000000:00000000 00:00000000 00000000  1000        0 333 1 0 100 0 0 10 0
   3: 00000000000000000000000001000000:2CAA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 444 1
   4: 00000000000000000000000000000000:2CAA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000 0 555 1
`
	socks, err := parseNetTCP(strings.NewReader(tbl))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		ip       string
		port     int
		ino      uint64
		loopback bool
	}{{"127.0.0.1", 11434, 111, true}, {"0.0.0.0", 11435, 222, false}, {"::1", 11434, 444, true}, {"::", 11434, 555, false}}
	if len(socks) != len(want) {
		t.Fatalf("got %d sockets %v (the established one must be skipped)", len(socks), socks)
	}
	for i, w := range want {
		s := socks[i]
		if !s.IP.Equal(net.ParseIP(w.ip)) || s.Port != w.port || s.Inode != w.ino || s.Loopback() != w.loopback {
			t.Errorf("socket %d: %v %d %d %t, want %+v", i, s.IP, s.Port, s.Inode, s.Loopback(), w)
		}
	}
}

func TestParseStatCommWithParens(t *testing.T) {
	line := "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10"
	p, err := parseStat(42, line)
	if err != nil || p.Comm != "a (b) c" || p.State != "S" || p.StartTime != 987654 {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := parseStat(1, "1 (x) S 1"); err == nil {
		t.Error("short stat accepted")
	}
}

func TestListenersAndOwnersOfARealSocket(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	socks, err := Listeners(port)
	if err != nil || len(socks) != 1 || !socks[0].Loopback() {
		t.Fatalf("listeners %v %v", socks, err)
	}
	owners, err := PortOwners(port)
	if err != nil || len(owners) != 1 || owners[0].PID != os.Getpid() {
		t.Fatalf("owners %v %v, want pid %d", owners, err, os.Getpid())
	}
}

func TestVerifyOwnRecord(t *testing.T) {
	r, err := RecordOf(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if id, _, why := r.Verify(); id != Ours {
		t.Fatalf("own record: %v %s", id, why)
	}
	r.StartTime++
	if id, _, why := r.Verify(); id != Foreign || !strings.Contains(why, "reused") {
		t.Errorf("other start time: %v %s", id, why)
	}
	r.PID = 1 << 30
	if id, _, _ := r.Verify(); id != Gone {
		t.Errorf("no such pid: %v", id)
	}
}
