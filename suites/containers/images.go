package containers

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/tollgate-dev/tollgate/fixtures/images"
)

// ImageStatus reports what EnsureImages did for one image.
type ImageStatus struct {
	Name  string        // the image's short name
	Ref   string        // its tag
	Hash  string        // content hash of its build context
	Built bool          // false: an image with this hash was already present
	Took  time.Duration // time spent on this image, binary excluded
}

func (s ImageStatus) String() string {
	verb := "up to date"
	if s.Built {
		verb = "built in " + s.Took.Round(10*time.Millisecond).String()
	}
	return fmt.Sprintf("%-34s %s (content %s)", s.Ref, verb, shortHash(s.Hash))
}

// BuildOptions configures EnsureImages.
type BuildOptions struct {
	ModuleRoot string        // the tollgate module's root; "" = found with `go env GOMOD`
	Images     []images.Spec // default: images.All()
	Force      bool          // rebuild even when the content hash matches
	Log        io.Writer     // build progress, one line per image; nil = discard
}

// EnsureImages compiles the images' binaries on the host (static,
// CGO_ENABLED=0, GOOS=linux) and builds every image whose content hash
// differs from the one labelled on the local image. Nothing is pulled: the
// images are FROM scratch. Errors are one line.
func EnsureImages(ctx context.Context, opts BuildOptions) ([]ImageStatus, error) {
	prepareEnv()
	specs := opts.Images
	if len(specs) == 0 {
		specs = images.All()
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	root := opts.ModuleRoot
	if root == "" {
		var err error
		if root, err = ModuleRoot(ctx); err != nil {
			return nil, err
		}
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, engineError(err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return nil, engineError(err)
	}

	work, err := os.MkdirTemp("", "tollgate-images-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	pkgs := make([]string, 0, len(specs))
	for _, s := range specs {
		pkgs = append(pkgs, s.Package)
	}
	binDir := filepath.Join(work, "bin")
	if err := BuildBinaries(ctx, root, binDir, pkgs...); err != nil {
		return nil, err
	}

	var out []ImageStatus
	for _, s := range specs {
		start := time.Now()
		st, err := ensureImage(ctx, cli.Client, s, filepath.Join(work, s.Name), filepath.Join(binDir, path.Base(s.Package)), opts.Force)
		if err != nil {
			return out, fmt.Errorf("image %s cannot be built: %s", s.Ref, oneLine(err.Error()))
		}
		st.Took = time.Since(start)
		fmt.Fprintln(logw, st)
		out = append(out, st)
	}
	return out, nil
}

// ensureImage lays out the build context of s in dir, hashes it and builds
// the image unless a local image already carries that hash.
func ensureImage(ctx context.Context, cli *client.Client, s images.Spec, dir, binary string, force bool) (ImageStatus, error) {
	st := ImageStatus{Name: s.Name, Ref: s.Ref}
	df, err := s.DockerfileBytes()
	if err != nil {
		return st, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, err
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		return st, err
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		return st, err
	}
	if err := os.WriteFile(filepath.Join(dir, s.Binary), bin, 0o755); err != nil {
		return st, err
	}
	for _, d := range s.Dirs {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return st, err
		}
		if err := os.Chmod(filepath.Join(dir, d), 0o700); err != nil {
			return st, err
		}
	}
	tarball, hash, err := tarContext(dir)
	if err != nil {
		return st, err
	}
	st.Hash = hash

	var previous string // the image this build replaces, if it is one of ours
	if img, err := cli.ImageInspect(ctx, s.Ref); err == nil {
		if img.Config != nil && img.Config.Labels[images.LabelContentHash] == hash && !force {
			return st, nil
		}
		if img.Config != nil && img.Config.Labels[images.LabelImage] == s.Name {
			previous = img.ID
		}
	} else if !cerrdefs.IsNotFound(err) {
		return st, err
	}

	res, err := cli.ImageBuild(ctx, bytes.NewReader(tarball), client.ImageBuildOptions{
		Tags:        []string{s.Ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		PullParent:  false,
		Version:     build.BuilderV1,
		Labels: map[string]string{
			images.LabelImage:       s.Name,
			images.LabelContentHash: hash,
		},
	})
	if err != nil {
		return st, err
	}
	defer res.Body.Close()
	if err := readBuildStream(res.Body); err != nil {
		return st, err
	}
	img, err := cli.ImageInspect(ctx, s.Ref)
	if err != nil {
		return st, fmt.Errorf("built but not found: %w", err)
	}
	if img.Config == nil || img.Config.Labels[images.LabelContentHash] != hash {
		return st, errors.New("built image does not carry the expected content hash")
	}
	st.Built = true
	if previous != "" && previous != img.ID {
		// The old image is now untagged; remove it unless a container still uses it.
		_, _ = cli.ImageRemove(ctx, previous, client.ImageRemoveOptions{})
	}
	return st, nil
}

// readBuildStream consumes the engine's JSON build messages and returns the
// first error it reports.
func readBuildStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	var last string
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("build output: %w", err)
		}
		if msg.Error != "" || msg.ErrorDetail != nil {
			text := msg.Error
			if msg.ErrorDetail != nil && msg.ErrorDetail.Message != "" {
				text = msg.ErrorDetail.Message
			}
			if last != "" {
				text += " (at " + last + ")"
			}
			return errors.New(text)
		}
		if s := strings.TrimSpace(msg.Stream); strings.HasPrefix(s, "Step ") {
			last = s
		}
	}
}

// tarContext tars dir (regular files and directories, sorted, with fixed
// times and owners) and returns the tarball and the sha256 of its content.
func tarContext(dir string) ([]byte, string, error) {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	sort.Strings(paths)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := sha256.New()
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil {
			return nil, "", err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		hdr := &tar.Header{Name: rel, Mode: int64(fi.Mode().Perm()), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		switch {
		case fi.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
			fmt.Fprintf(h, "dir %s %o\n", rel, hdr.Mode)
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, "", err
			}
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return nil, "", err
			}
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(b))
			sum := sha256.Sum256(b)
			fmt.Fprintf(h, "file %s %o %x\n", rel, hdr.Mode, sum)
			if err := tw.WriteHeader(hdr); err != nil {
				return nil, "", err
			}
			if _, err := tw.Write(b); err != nil {
				return nil, "", err
			}
		default:
			return nil, "", fmt.Errorf("build context: %s is neither a file nor a directory", rel)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func shortHash(h string) string {
	h = strings.TrimPrefix(h, "sha256:")
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// BuildBinaries compiles Go main packages of the module at root into outDir
// as static linux binaries (CGO_ENABLED=0, -trimpath, no VCS stamp), so the
// same sources give the same bytes and image hashes stay stable.
func BuildBinaries(ctx context.Context, root, outDir string, pkgs ...string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", outDir + string(os.PathSeparator)}
	args = append(args, pkgs...)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("go build %s: %s", strings.Join(pkgs, " "), oneLine(msg))
	}
	return nil
}

// ModuleRoot finds the root of the module containing the working directory.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the tollgate module: cannot build images from here")
	}
	return filepath.Dir(gomod), nil
}

// goTool is the go command: $GOROOT/bin/go when GOROOT is set, else PATH's.
func goTool() string {
	if r := os.Getenv("GOROOT"); r != "" {
		if p := filepath.Join(r, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
