package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

const (
	tokenBytes       = 24      // random bytes per generated token (32 URL-safe characters)
	maxTokenFileSize = 4 << 10 // a token file is a line; anything larger is not one
)

// NewToken returns a fresh token: 24 bytes from crypto/rand, base64url
// without padding.
func NewToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("cannot generate a token: %v", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// LoadOrCreateTokenFile returns the token stored at path, creating the file
// (mode 0600, parent directory 0700 when created) with a new token when it is
// missing. A file with a looser mode is tightened to 0600 and reported in
// warnings. It refuses an empty or whitespace-only file, a symlink, anything
// but a regular file, a file owned by another user and an unreadable file.
// Errors are one line and name the path.
func LoadOrCreateTokenFile(path string) (token string, warnings []string, err error) {
	if path == "" {
		return "", nil, errors.New("token file path is empty")
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		created, warns, err := createTokenFile(path)
		if err != nil {
			return "", warns, err
		}
		if created != "" {
			return created, warns, nil
		}
		// Another process created it first: read theirs.
		token, more, err := readTokenFile(path)
		return token, append(warns, more...), err
	case err != nil:
		return "", nil, fmt.Errorf("token file %s: %v", path, unwrapPathError(err))
	}
	if err := checkTokenFileInfo(path, fi); err != nil {
		return "", nil, err
	}
	return readTokenFile(path)
}

// RotateTokenFile writes a new token to path atomically (a temporary file in
// the same directory renamed over it) and returns it. It refuses to replace a
// symlink, a non-regular file or another user's file.
func RotateTokenFile(path string) (token string, err error) {
	if path == "" {
		return "", errors.New("token file path is empty")
	}
	fi, err := os.Lstat(path)
	switch {
	case err == nil:
		if err := checkTokenFileInfo(path, fi); err != nil {
			return "", err
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("token file %s: %v", path, unwrapPathError(err))
	}
	if err := ensureTokenDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	token, err = NewToken()
	if err != nil {
		return "", err
	}
	tmp, err := writeTempToken(path, token)
	if err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("token file %s: cannot replace: %v", path, unwrapPathError(err))
	}
	syncDir(filepath.Dir(path))
	return token, nil
}

// createTokenFile creates path with a new token without ever clobbering a file
// that appeared meanwhile: the temporary file is hard-linked into place, which
// fails if path exists. It returns "" (and no error) when it lost that race.
func createTokenFile(path string) (token string, warnings []string, err error) {
	if err := ensureTokenDir(filepath.Dir(path)); err != nil {
		return "", nil, err
	}
	token, err = NewToken()
	if err != nil {
		return "", nil, err
	}
	tmp, err := writeTempToken(path, token)
	if err != nil {
		return "", nil, err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return "", nil, nil
		}
		// Filesystems without hard links: fall back to rename.
		if err := os.Rename(tmp, path); err != nil {
			return "", nil, fmt.Errorf("token file %s: cannot create: %v", path, unwrapPathError(err))
		}
	}
	syncDir(filepath.Dir(path))
	return token, nil, nil
}

// ensureTokenDir creates dir (and parents) when missing and then sets dir
// itself to 0700 whatever the umask. An existing directory is left alone.
func ensureTokenDir(dir string) error {
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("token file directory %s is not a directory", dir)
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("token file directory %s: %v", dir, unwrapPathError(err))
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create token file directory %s: %v", dir, unwrapPathError(err))
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("cannot set mode 0700 on token file directory %s: %v", dir, unwrapPathError(err))
	}
	return nil
}

// writeTempToken writes token and a newline to a new 0600 file next to path,
// synced to disk, and returns its name.
func writeTempToken(path, token string) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("token file %s: cannot write: %v", path, unwrapPathError(err))
	}
	name := f.Name()
	fail := func(err error) (string, error) {
		_ = f.Close()
		_ = os.Remove(name)
		return "", fmt.Errorf("token file %s: cannot write: %v", path, unwrapPathError(err))
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(name)
		return "", fmt.Errorf("token file %s: cannot write: %v", path, unwrapPathError(err))
	}
	return name, nil
}

// checkTokenFileInfo refuses symlinks, non-regular files and other users' files.
func checkTokenFileInfo(path string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("token file %s is a symlink: refusing to follow it", path)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("token file %s is not a regular file", path)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("token file %s is owned by uid %d, not by this user (uid %d)", path, uid, os.Geteuid())
	}
	return nil
}

// readTokenFile opens path without following symlinks, re-checks what it
// opened, tightens its mode to 0600 and returns the trimmed token.
func readTokenFile(path string) (token string, warnings []string, err error) {
	f, err := openNoFollow(path)
	if err != nil {
		if isSymlinkLoop(err) {
			return "", nil, fmt.Errorf("token file %s is a symlink: refusing to follow it", path)
		}
		return "", nil, fmt.Errorf("token file %s is unreadable: %v", path, unwrapPathError(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", nil, fmt.Errorf("token file %s is unreadable: %v", path, unwrapPathError(err))
	}
	if err := checkTokenFileInfo(path, fi); err != nil {
		return "", nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		if err := f.Chmod(0o600); err != nil {
			return "", nil, fmt.Errorf("token file %s has mode %04o and cannot be tightened to 0600: %v", path, perm, unwrapPathError(err))
		}
		warnings = append(warnings, fmt.Sprintf("token file %s had mode %04o: tightened to 0600", path, perm))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxTokenFileSize+1))
	if err != nil {
		return "", nil, fmt.Errorf("token file %s is unreadable: %v", path, unwrapPathError(err))
	}
	switch trimmed := bytes.TrimSpace(data); {
	case len(data) > maxTokenFileSize:
		return "", nil, fmt.Errorf("token file %s is larger than %d bytes: not a token file", path, maxTokenFileSize)
	case len(data) == 0:
		return "", nil, fmt.Errorf("token file %s is empty", path)
	case len(trimmed) == 0:
		return "", nil, fmt.Errorf("token file %s contains only whitespace", path)
	case !isToken68(string(trimmed)):
		return "", nil, fmt.Errorf("token file %s does not hold a usable token (one line of A-Z a-z 0-9 - . _ ~ + /)", path)
	default:
		return string(trimmed), warnings, nil
	}
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// unwrapPathError drops the *PathError wrapper, whose path the caller's
// message already names.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
