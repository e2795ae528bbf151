package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// countingReader counts the reads that reach it.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) { c.reads++; return c.r.Read(p) }

// TestStreamedBodyEndsAtDeclaredLength: the read after the declared length
// (the transport's end-of-body check) never reaches net/http's body.
func TestStreamedBodyEndsAtDeclaredLength(t *testing.T) {
	inner := &countingReader{r: bytes.NewReader([]byte("0123456789"))}
	b := newStreamedBody(inner, 10)
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "0123456789" {
		t.Fatalf("read %q, %v", got, err)
	}
	reads := inner.reads
	if n, err := b.Read(make([]byte, 8)); n != 0 || err != io.EOF || inner.reads != reads {
		t.Fatalf("after the declared length: %d, %v, and %d more reads of the inner body", n, err, inner.reads-reads)
	}
}

// TestStreamedBodyReadsNothingOnceAnswered: after finish no read reaches
// net/http's body, known length or chunked.
func TestStreamedBodyReadsNothingOnceAnswered(t *testing.T) {
	for _, length := range []int64{10, -1} {
		inner := &countingReader{r: bytes.NewReader([]byte("0123456789"))}
		b := newStreamedBody(inner, length)
		if _, err := b.Read(make([]byte, 4)); err != nil {
			t.Fatal(err)
		}
		b.finish(http.NewResponseController(httptest.NewRecorder()))
		if n, err := b.Read(make([]byte, 4)); n != 0 || !errors.Is(err, errHandlerDone) || inner.reads != 1 {
			t.Fatalf("length %d after finish: %d, %v, %d reads of the inner body", length, n, err, inner.reads)
		}
	}
}
