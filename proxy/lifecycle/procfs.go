package lifecycle

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procRoot is where procfs is mounted; tests never change it, but keeping it
// in one place documents every read this package does.
const procRoot = "/proc"

// ErrNoProcess means the PID names no process (or only a zombie).
var ErrNoProcess = errors.New("no such process")

// Proc is what /proc says about one process.
type Proc struct {
	PID       int    `json:"pid"`
	Comm      string `json:"comm"`
	State     string `json:"state"`
	StartTime uint64 `json:"start_time"` // clock ticks since boot (field 22 of /proc/<pid>/stat)
}

// ReadProc reads /proc/<pid>/stat. A zombie counts as no process: it holds no
// socket and will never run again.
func ReadProc(pid int) (Proc, error) {
	if pid <= 0 {
		return Proc{}, ErrNoProcess
	}
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return Proc{}, ErrNoProcess
		}
		return Proc{}, err
	}
	p, err := parseStat(pid, string(b))
	if err != nil {
		return Proc{}, err
	}
	if p.State == "Z" || p.State == "X" {
		return p, ErrNoProcess
	}
	return p, nil
}

// parseStat parses "pid (comm) state ppid ... starttime ...". comm may hold
// spaces and parentheses, so it ends at the last ')'.
func parseStat(pid int, s string) (Proc, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Proc{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	rest := strings.Fields(s[end+1:])
	// rest[0] is field 3 (state); starttime is field 22, so rest[19].
	if len(rest) < 20 {
		return Proc{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	st, err := strconv.ParseUint(rest[19], 10, 64)
	if err != nil {
		return Proc{}, fmt.Errorf("/proc/%d/stat: bad starttime %q", pid, rest[19])
	}
	return Proc{PID: pid, Comm: s[open+1 : end], State: rest[0], StartTime: st}, nil
}

// ExePath is the target of /proc/<pid>/exe (" (deleted)" when the file was
// replaced since the process started).
func ExePath(pid int) (string, error) {
	return os.Readlink(filepath.Join(procRoot, strconv.Itoa(pid), "exe"))
}

// ExeDigest is the sha256 of the image the process runs, read through
// /proc/<pid>/exe, so it still identifies the process after the file on disk
// was replaced by an upgrade.
func ExeDigest(pid int) (string, error) {
	f, err := os.Open(filepath.Join(procRoot, strconv.Itoa(pid), "exe"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Socket is one listening TCP socket from /proc/net/tcp or tcp6.
type Socket struct {
	IP    net.IP `json:"ip"`
	Port  int    `json:"port"`
	Inode uint64 `json:"inode"`
}

// Loopback reports whether the socket accepts only loopback connections.
func (s Socket) Loopback() bool { return s.IP.IsLoopback() }

func (s Socket) String() string { return net.JoinHostPort(s.IP.String(), strconv.Itoa(s.Port)) }

// Listeners returns the listening TCP sockets (IPv4 and IPv6) on port.
func Listeners(port int) ([]Socket, error) {
	var out []Socket
	found := false
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(procRoot, "net", name))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // no IPv6 in this kernel
			}
			return nil, err
		}
		found = true
		socks, err := parseNetTCP(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("/proc/net/%s: %v", name, err)
		}
		for _, s := range socks {
			if s.Port == port {
				out = append(out, s)
			}
		}
	}
	if !found {
		return nil, errors.New("/proc/net/tcp is not readable: this needs Linux procfs")
	}
	return out, nil
}

const tcpListen = "0A"

// parseNetTCP reads the listening sockets of a /proc/net/tcp{,6} table.
func parseNetTCP(r io.Reader) ([]Socket, error) {
	var out []Socket
	sc := bufio.NewScanner(r)
	first := true
	for sc.Scan() {
		if first { // header
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != tcpListen {
			continue
		}
		ip, port, err := parseHexAddr(f[1])
		if err != nil {
			return nil, err
		}
		ino, err := strconv.ParseUint(f[9], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad inode %q", f[9])
		}
		out = append(out, Socket{IP: ip, Port: port, Inode: ino})
	}
	return out, sc.Err()
}

// parseHexAddr decodes "0100007F:2CAB": the address is a sequence of 32-bit
// words, each in host (little-endian on every Linux target Go supports here) order.
func parseHexAddr(s string) (net.IP, int, error) {
	a, p, ok := strings.Cut(s, ":")
	if !ok || (len(a) != 8 && len(a) != 32) {
		return nil, 0, fmt.Errorf("bad address %q", s)
	}
	raw, err := hex.DecodeString(a)
	if err != nil {
		return nil, 0, fmt.Errorf("bad address %q", s)
	}
	for i := 0; i < len(raw); i += 4 {
		raw[i], raw[i+1], raw[i+2], raw[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return nil, 0, fmt.Errorf("bad port in %q", s)
	}
	return net.IP(raw), int(port), nil
}

// Owner is a process holding a listening socket. PID 0 means the socket's
// owner is not visible to this user (another user's process).
type Owner struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	Addr string `json:"addr"`
}

func (o Owner) String() string {
	if o.PID == 0 {
		return fmt.Sprintf("a process of another user (listening on %s)", o.Addr)
	}
	return fmt.Sprintf("pid %d (%s, listening on %s)", o.PID, o.Comm, o.Addr)
}

// PortOwners finds which processes hold the listening sockets on port: the
// socket inodes from /proc/net/tcp{,6}, matched against every
// /proc/<pid>/fd/* link "socket:[inode]" this user may read.
func PortOwners(port int) ([]Owner, error) {
	socks, err := Listeners(port)
	if err != nil || len(socks) == 0 {
		return nil, err
	}
	want := map[uint64]Socket{}
	for _, s := range socks {
		want[s.Inode] = s
	}
	seen := map[uint64]bool{}
	var out []Owner
	dirs, _ := os.ReadDir(procRoot)
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(procRoot, d.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone, or another user's
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil || !strings.HasPrefix(link, "socket:[") {
				continue
			}
			ino, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64)
			if err != nil {
				continue
			}
			if s, ok := want[ino]; ok {
				comm := "?"
				if p, err := ReadProc(pid); err == nil {
					comm = p.Comm
				}
				seen[ino] = true
				out = append(out, Owner{PID: pid, Comm: comm, Addr: s.String()})
			}
		}
	}
	for _, s := range socks {
		if !seen[s.Inode] {
			out = append(out, Owner{Addr: s.String()})
		}
	}
	return out, nil
}
