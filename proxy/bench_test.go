package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func BenchmarkAuthCheck(b *testing.B) {
	want := digestOf(testToken)
	r := httptest.NewRequest("POST", "/api/generate", nil)
	r.Header.Set("Authorization", "Bearer "+testToken)
	b.ReportAllocs()
	for b.Loop() {
		if !authorized(r, want) {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkIsExempt(b *testing.B) {
	r := httptest.NewRequest("GET", "/api/tags", nil)
	b.ReportAllocs()
	for b.Loop() {
		if !IsExempt(r) {
			b.Fatal("not exempt")
		}
	}
}

func BenchmarkProxyRequest(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"response":"ok","done":true}`)
	}))
	defer be.Close()
	h, err := NewHandler(Config{Token: testToken, BackendAddr: be.Listener.Addr().String()})
	if err != nil {
		b.Fatal(err)
	}
	p := httptest.NewServer(h)
	defer p.Close()
	client := p.Client()
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest("POST", p.URL+"/api/generate", strings.NewReader(`{"model":"m","prompt":"p"}`))
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode)
		}
	}
}
