package conformance

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"time"

	"github.com/tollgate-dev/tollgate/suites/report"
)

// Line is one line of a streamed body and when it arrived.
type Line struct {
	Data []byte
	At   time.Duration // since the request was sent
}

// Stream is a streamed answer read line by line.
type Stream struct {
	Status        int
	Header        http.Header
	ContentLength int64
	Lines         []Line
	Tag           string
	Err           error // a read error mid-stream (truncation shows here)
	Total         time.Duration
}

// Stream sends a request and records each line's arrival time. stop, when
// non-nil, is consulted after every line and ends the read early.
func (h *Harness) Stream(ctx context.Context, method, path string, body io.Reader, stop func(Line) bool, opts ...Opt) Stream {
	req, tag, err := h.request(ctx, method, path, body, opts...)
	if err != nil {
		return Stream{Err: err, Tag: tag}
	}
	start := time.Now()
	res, err := h.client.Do(req)
	if err != nil {
		recordExchange(report.Exchange{Request: describeRequest(req), Response: describeResponse(0, nil, err)})
		return Stream{Err: err, Tag: tag}
	}
	defer res.Body.Close()
	s := Stream{Status: res.StatusCode, Header: res.Header, ContentLength: res.ContentLength, Tag: tag}
	r := bufio.NewReader(res.Body)
	for {
		data, err := r.ReadBytes('\n')
		if len(data) > 0 {
			l := Line{Data: data, At: time.Since(start)}
			s.Lines = append(s.Lines, l)
			if stop != nil && stop(l) {
				break
			}
		}
		if err != nil {
			if err != io.EOF {
				s.Err = err
			}
			break
		}
	}
	s.Total = time.Since(start)
	var head []byte
	for _, l := range s.Lines {
		if head = append(head, l.Data...); len(head) > wireBodyHead {
			break
		}
	}
	recordExchange(report.Exchange{Request: describeRequest(req), Response: describeResponse(s.Status, s.Header, s.Err), BodyHead: bodyHead(head)})
	return s
}

// NonEmpty returns the lines that carry data (SSE separates events with blank lines).
func (s Stream) NonEmpty() []Line {
	var out []Line
	for _, l := range s.Lines {
		if len(trimEOL(l.Data)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
