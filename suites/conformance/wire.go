package conformance

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"

	"github.com/tollgate-dev/tollgate/suites/report"
)

// wireKeep is how many of a spec's last exchanges a failure report shows.
const (
	wireKeep     = 3
	wireBodyHead = 256
)

// wire records the current spec's exchanges; a failed requirement's report
// carries the last few, so the reader sees what was sent and what came back.
var wire struct {
	sync.Mutex
	ex []report.Exchange
}

var _ = BeforeEach(func() {
	wire.Lock()
	wire.ex = nil
	wire.Unlock()
})

func recordExchange(e report.Exchange) {
	wire.Lock()
	defer wire.Unlock()
	wire.ex = append(wire.ex, e)
	if len(wire.ex) > wireKeep {
		wire.ex = wire.ex[len(wire.ex)-wireKeep:]
	}
}

func lastExchanges() []report.Exchange {
	wire.Lock()
	defer wire.Unlock()
	return append([]report.Exchange(nil), wire.ex...)
}

// describeRequest renders a request line and its headers, sorted.
func describeRequest(r *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s\n", r.Method, r.URL.RequestURI(), "HTTP/1.1")
	if r.Host != "" {
		fmt.Fprintf(&b, "Host: %s\n", r.Host)
	}
	writeHeaders(&b, r.Header)
	return strings.TrimRight(b.String(), "\n")
}

// describeResponse renders a status line and headers, or the error.
func describeResponse(status int, h http.Header, err error) string {
	if status == 0 {
		if err != nil {
			return "no response: " + err.Error()
		}
		return "no response"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\n", status, http.StatusText(status))
	writeHeaders(&b, h)
	if err != nil {
		fmt.Fprintf(&b, "(then: %v)\n", err)
	}
	return strings.TrimRight(b.String(), "\n")
}

func writeHeaders(b *strings.Builder, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			if len(v) > 200 {
				v = v[:200] + fmt.Sprintf("… (%d bytes)", len(v))
			}
			fmt.Fprintf(b, "%s: %s\n", k, v)
		}
	}
}

func bodyHead(b []byte) string {
	if len(b) > wireBodyHead {
		return fmt.Sprintf("%q… (%d bytes)", b[:wireBodyHead], len(b))
	}
	return fmt.Sprintf("%q", b)
}

// rawHead renders a hand-written request's head (its bytes up to the body).
func rawHead(payload []byte) string {
	head := string(payload)
	if i := strings.Index(head, "\r\n\r\n"); i >= 0 {
		head = head[:i]
	}
	if len(head) > 2048 {
		head = head[:2048] + fmt.Sprintf("… (%d bytes)", len(payload))
	}
	return fmt.Sprintf("%q", head)
}
