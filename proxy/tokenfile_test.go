package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

func TestLoadOrCreateTokenFileCreates(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	dir := filepath.Join(t.TempDir(), "a", "b")
	path := filepath.Join(dir, "token")
	token, warnings, err := LoadOrCreateTokenFile(path)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("create: %v %v", err, warnings)
	}
	if len(token) != 32 || !isToken68(token) || strings.ContainsAny(token, "+/=") {
		t.Errorf("token %q: want 32 URL-safe characters", token)
	}
	data, _ := os.ReadFile(path)
	if string(data) != token+"\n" {
		t.Errorf("file %q, want token and newline", data)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	again, warnings, err := LoadOrCreateTokenFile(path)
	if err != nil || again != token || len(warnings) != 0 {
		t.Errorf("reuse: %q %v %v", again, warnings, err)
	}
	other, _, _ := LoadOrCreateTokenFile(filepath.Join(dir, "other"))
	if other == token {
		t.Error("two files got the same token")
	}
}

func TestLoadOrCreateTokenFileExistingDirUntouched(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateTokenFile(filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o755 {
		t.Errorf("existing dir mode changed to %v", fi.Mode().Perm())
	}
}

func TestLoadOrCreateTokenFileConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	const n = 8
	tokens := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, _, err := LoadOrCreateTokenFile(path)
			if err != nil {
				t.Error(err)
			}
			tokens[i] = tok
		}()
	}
	wg.Wait()
	for _, tok := range tokens {
		if tok != tokens[0] {
			t.Fatalf("concurrent creators disagree: %q", tokens)
		}
	}
	data, _ := os.ReadFile(path)
	if strings.TrimSpace(string(data)) != tokens[0] {
		t.Errorf("file %q, callers got %q", data, tokens[0])
	}
}

func TestLoadOrCreateTokenFileExisting(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name, content string
		mode          os.FileMode
		token         string
		warn, err     string
	}{
		{"plain", "abc-DEF_123", 0o600, "abc-DEF_123", "", ""},
		{"trimmed", "\n  abc-DEF_123 \r\n\n", 0o600, "abc-DEF_123", "", ""},
		{"loose 0644", "abc", 0o644, "abc", "tightened to 0600", ""},
		{"loose 0666", "abc", 0o666, "abc", "had mode 0666", ""},
		{"loose 0640", "abc", 0o640, "abc", "tightened", ""},
		{"read-only 0400", "abc", 0o400, "abc", "", ""},
		{"empty", "", 0o600, "", "", "is empty"},
		{"whitespace", " \t\n\r\n ", 0o600, "", "", "only whitespace"},
		{"inner space", "abc def", 0o600, "", "", "usable token"},
		{"two lines", "abc\ndef\n", 0o600, "", "", "usable token"},
		{"binary", "abc\x00", 0o600, "", "", "usable token"},
		{"too large", strings.Repeat("a", 8<<10), 0o600, "", "", "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(strings.ReplaceAll(tt.name, " ", "_"), tt.content, tt.mode)
			token, warnings, err := LoadOrCreateTokenFile(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("err = %v, want one line naming the file with %q", err, tt.err)
				}
				return
			}
			if err != nil || token != tt.token {
				t.Fatalf("got %q, %v; want %q", token, err, tt.token)
			}
			if (tt.warn == "") != (len(warnings) == 0) || (tt.warn != "" && !strings.Contains(warnings[0], tt.warn)) {
				t.Errorf("warnings %q, want %q", warnings, tt.warn)
			}
			fi, _ := os.Stat(p)
			if perm := fi.Mode().Perm(); perm&0o077 != 0 {
				t.Errorf("mode %v after load", perm)
			}
		})
	}
}

func TestLoadOrCreateTokenFileRefusals(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	_ = os.Symlink(target, link)
	dangling := filepath.Join(dir, "dangling")
	_ = os.Symlink(filepath.Join(dir, "nowhere"), dangling)
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "subdir")
	_ = os.Mkdir(sub, 0o700)
	notDir := filepath.Join(dir, "target", "token") // parent is a file

	for _, tc := range []struct{ path, want string }{
		{link, "symlink"},
		{dangling, "symlink"},
		{fifo, "not a regular file"},
		{sub, "not a regular file"},
		{notDir, "not a directory"},
		{"", "empty"},
	} {
		if _, _, err := LoadOrCreateTokenFile(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.path, err, tc.want)
		}
	}
	if data, _ := os.ReadFile(target); string(data) != "abc\n" {
		t.Errorf("symlink target modified: %q", data)
	}
	if _, err := os.Lstat(filepath.Join(dir, "nowhere")); err == nil {
		t.Error("dangling symlink target created")
	}
}

func TestLoadOrCreateTokenFileOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown")
	}
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Skip("chown not permitted:", err)
	}
	if _, _, err := LoadOrCreateTokenFile(p); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Errorf("err = %v", err)
	}
	if _, err := RotateTokenFile(p); err == nil || !strings.Contains(err.Error(), "owned by") {
		t.Errorf("rotate: err = %v", err)
	}
}

func TestRotateTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "token")
	first, err := RotateTokenFile(path) // creates when missing
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := LoadOrCreateTokenFile(path)
	if err != nil || got != first {
		t.Fatalf("load after rotate: %q %v", got, err)
	}
	_ = os.Chmod(path, 0o644)
	second, err := RotateTokenFile(path)
	if err != nil || second == first || len(second) != 32 {
		t.Fatalf("rotate: %q %v", second, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after rotate %v", fi.Mode().Perm())
	}
	if data, _ := os.ReadFile(path); string(data) != second+"\n" {
		t.Errorf("file %q", data)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
	link := filepath.Join(dir, "link")
	_ = os.Symlink(path, link)
	if _, err := RotateTokenFile(link); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Errorf("rotate through symlink: %v", err)
	}
	if _, err := RotateTokenFile(""); err == nil {
		t.Error("empty path accepted")
	}
}
