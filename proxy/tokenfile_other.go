//go:build !unix

package proxy

import (
	"io/fs"
	"os"
)

func openNoFollow(path string) (*os.File, error) { return os.Open(path) }

func isSymlinkLoop(error) bool { return false }

func fileOwner(fs.FileInfo) (int, bool) { return 0, false }
