package mockollama

import (
	"encoding/json"
	"io"
	"net/http"
)

// ControlHandler serves the control API, meant for a separate listener
// (never the Ollama port):
//
//	GET    /record[?tag=T]  the entries, as a JSON array
//	DELETE /record          reset the record
//	GET    /faults          the default faults
//	PUT    /faults          set the default faults (JSON; durations as "50ms")
//	DELETE /faults          clear the default faults
//	GET    /healthz         {"status":"ok"}
func (m *Mock) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/record", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			if tag, ok := r.URL.Query()["tag"]; ok {
				controlJSON(w, http.StatusOK, m.record.ByTag(tag[0]))
				return
			}
			controlJSON(w, http.StatusOK, m.record.All())
		case http.MethodDelete:
			m.record.Reset()
			w.WriteHeader(http.StatusNoContent)
		default:
			methodNotAllowed(w, "GET, HEAD, DELETE")
		}
	})
	mux.HandleFunc("/faults", func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			controlJSON(w, http.StatusOK, m.Faults())
		case http.MethodPut:
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				controlJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			var f Faults
			if err := json.Unmarshal(body, &f); err != nil {
				controlJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			if err := f.Validate(); err != nil {
				controlJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error()})
				return
			}
			m.SetFaults(f)
			controlJSON(w, http.StatusOK, f)
		case http.MethodDelete:
			m.SetFaults(Faults{})
			w.WriteHeader(http.StatusNoContent)
		default:
			methodNotAllowed(w, "GET, HEAD, PUT, DELETE")
		}
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		controlJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		controlJSON(w, http.StatusNotFound, map[string]string{"error": "not found: the control API has /record, /faults and /healthz"})
	})
	return mux
}

func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	controlJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
}

func controlJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
