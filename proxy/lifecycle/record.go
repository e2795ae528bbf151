package lifecycle

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Record is the PID file: enough to tell, later, whether the process it
// names is still the proxy this supervisor started (PIDs are reused).
type Record struct {
	PID         int       `json:"pid"`
	StartTime   uint64    `json:"start_time"` // /proc/<pid>/stat field 22, clock ticks since boot
	Exe         string    `json:"exe"`        // /proc/<pid>/exe at start
	ExeSHA256   string    `json:"exe_sha256"` // sha256 of the image, read through /proc/<pid>/exe
	Port        int       `json:"port"`
	BackendPort int       `json:"backend_port"`
	TokenFile   string    `json:"token_file"`
	Started     time.Time `json:"started"`
}

// RecordOf describes the running process pid.
func RecordOf(pid int) (Record, error) {
	p, err := ReadProc(pid)
	if err != nil {
		return Record{}, fmt.Errorf("pid %d: %w", pid, err)
	}
	exe, err := ExePath(pid)
	if err != nil {
		return Record{}, fmt.Errorf("pid %d: executable: %v", pid, err)
	}
	sum, err := ExeDigest(pid)
	if err != nil {
		return Record{}, fmt.Errorf("pid %d: executable digest: %v", pid, err)
	}
	return Record{PID: pid, StartTime: p.StartTime, Exe: exe, ExeSHA256: sum, Started: time.Now().UTC()}, nil
}

// ReadRecord reads a PID file; (nil, nil) when there is none.
func ReadRecord(path string) (*Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pid file %s: %v", path, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil || r.PID <= 0 {
		return nil, fmt.Errorf("pid file %s is not one this tool wrote (unparseable)", path)
	}
	return &r, nil
}

// WriteRecord writes the PID file atomically with mode 0600.
func WriteRecord(path string, r Record) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("pid file %s: %v", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(append(b, '\n'))
	cerr := f.Chmod(0o600)
	if err := errors.Join(werr, cerr, f.Close()); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("pid file %s: %v", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("pid file %s: %v", path, err)
	}
	return nil
}

// Identity is what Verify found about the process a record names.
type Identity int

const (
	Gone    Identity = iota // no process (or a zombie) has that PID
	Ours                    // same PID, start time and executable image
	Foreign                 // the PID now names another process
)

// Verify checks that the process r names is still the one r recorded: same
// start time (a reused PID has a later one) and same executable image.
// why explains a Foreign verdict; proc is the process found, if any.
func (r Record) Verify() (id Identity, proc Proc, why string) {
	p, err := ReadProc(r.PID)
	if err != nil {
		if errors.Is(err, ErrNoProcess) {
			return Gone, p, "no process has pid " + fmt.Sprint(r.PID)
		}
		return Foreign, p, fmt.Sprintf("pid %d cannot be inspected: %v", r.PID, err)
	}
	if p.StartTime != r.StartTime {
		return Foreign, p, fmt.Sprintf("pid %d (%s) started at tick %d, not %d: the PID was reused by another process", r.PID, p.Comm, p.StartTime, r.StartTime)
	}
	sum, err := ExeDigest(r.PID)
	if err != nil {
		return Foreign, p, fmt.Sprintf("pid %d (%s): its executable cannot be read (%v)", r.PID, p.Comm, err)
	}
	if sum != r.ExeSHA256 {
		return Foreign, p, fmt.Sprintf("pid %d (%s) runs another executable than the recorded %s", r.PID, p.Comm, r.Exe)
	}
	return Ours, p, ""
}
