package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoadTokenFile: whatever a token file holds and whatever its mode, the
// loader never panics; a token it accepts is non-empty, carries no
// surrounding whitespace, comes from the file, and no one but the owner can read the file afterwards.
func FuzzLoadTokenFile(f *testing.F) {
	for _, s := range []string{"", " ", "\n", "\t \r\n", "tok", "tok\n", "  tok  \n", "a b", "tok\x00", "\xff\xfe", "Zm9v-YmFy_YmF6.~+/==\n", strings.Repeat("a", 5000)} {
		f.Add([]byte(s), uint16(0o600))
	}
	f.Add([]byte("tok\n"), uint16(0o644))
	f.Add([]byte("tok"), uint16(0o000))
	f.Add([]byte("tok"), uint16(0o777))
	f.Fuzz(func(t *testing.T, data []byte, mode uint16) {
		dir := t.TempDir()
		path := filepath.Join(dir, "token")
		perm := os.FileMode(mode) & 0o777
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Skip(err)
		}
		if err := os.Chmod(path, perm|0o400); err != nil { // always readable by its owner
			t.Skip(err)
		}
		token, _, err := LoadOrCreateTokenFile(path)
		if err != nil {
			if token != "" {
				t.Fatalf("an error (%v) with a token %q", err, token)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a multi-line error: %q", err)
			}
			return
		}
		if token == "" {
			t.Fatal("ok with an empty token")
		}
		if strings.TrimSpace(token) != token {
			t.Fatalf("token %q has surrounding whitespace", token)
		}
		if !strings.Contains(string(data), token) {
			t.Fatalf("token %q is not in the file %q", token, data)
		}
		if err := validateToken(token); err != nil {
			t.Fatalf("the loader accepted %q, which the proxy refuses: %v", token, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Fatalf("file mode %04o after loading: group or others can still read it", fi.Mode().Perm())
		}
	})
}
