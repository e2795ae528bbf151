package containers

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
)

// readTarFile reads the first entry of the tar stream the engine's archive
// API returns for one path: its header is how the engine sees the file
// (mode, owner, size), its body the content (at most limit bytes; 0 = none).
func readTarFile(r io.Reader, p string, limit int64) (FileInfo, []byte, error) {
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return FileInfo{}, nil, fmt.Errorf("%s: empty archive", p)
		}
		return FileInfo{}, nil, fmt.Errorf("%s: reading archive: %w", p, err)
	}
	fi := FileInfo{
		Path: p,
		Mode: os.FileMode(hdr.Mode) & (os.ModePerm | 07000),
		UID:  hdr.Uid,
		GID:  hdr.Gid,
		Size: hdr.Size,
	}
	switch hdr.Typeflag {
	case tar.TypeReg:
		fi.Type = "file"
	case tar.TypeDir:
		fi.Type = "dir"
	case tar.TypeSymlink:
		fi.Type = "symlink"
	default:
		fi.Type = "other"
	}
	if path.Base(hdr.Name) != path.Base(p) && hdr.Typeflag != tar.TypeDir {
		return fi, nil, fmt.Errorf("%s: archive holds %q", p, hdr.Name)
	}
	if limit <= 0 || fi.Type != "file" {
		return fi, nil, nil
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(tr, limit)); err != nil {
		return fi, nil, fmt.Errorf("%s: reading content: %w", p, err)
	}
	return fi, buf.Bytes(), nil
}
