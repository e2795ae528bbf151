package conformance

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/tollgate-dev/tollgate/suites/target"
)

var urlSafeToken = regexp.MustCompile(`^[A-Za-z0-9_-]{32,}={0,2}$`)

// tokenDir returns a fresh directory; the token file goes in a sub-directory
// that does not exist yet, so the proxy has to create it.
func tokenDir() (dir, file string) {
	base, err := os.MkdirTemp("", "tollgate-tokf-")
	if err != nil {
		HarnessFail("temp dir: %v", err)
	}
	DeferCleanup(os.RemoveAll, base)
	dir = filepath.Join(base, "state")
	return dir, filepath.Join(dir, "token")
}

// startFromFile starts an instance reading its token from file.
func startFromFile(ctx SpecContext, file string, port int) (target.Instance, target.Launch) {
	l := H.Contract("", file)
	if port != 0 {
		l.Port = port
		l.Env["OLLAMA_PROXY_PORT"] = itoa(port)
	}
	inst, err := H.Start(ctx, l)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "starting the proxy with OLLAMA_PROXY_TOKEN_FILE")
	DeferCleanup(inst.Kill)
	return inst, l
}

func readToken(file string) string {
	b, err := os.ReadFile(file)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "reading the token file")
	t := strings.TrimSpace(string(b))
	Secret(t)
	return t
}

func writeToken(file, content string, mode os.FileMode) {
	Expect(os.MkdirAll(filepath.Dir(file), 0o700)).To(Succeed())
	Expect(os.WriteFile(file, []byte(content), mode)).To(Succeed())
	Expect(os.Chmod(file, mode)).To(Succeed())
	Secret(content)
}

func mode(path string) os.FileMode {
	fi, err := os.Stat(path)
	ExpectWithOffset(1, err).NotTo(HaveOccurred(), "stat %s", path)
	return fi.Mode().Perm()
}

var _ = Requirement("TOKF-001", func(ctx SpecContext) {
	_, file := tokenDir()
	inst, _ := startFromFile(ctx, file, 0)
	t := readToken(file)
	Expect(urlSafeToken.MatchString(t)).To(BeTrue(), "the created token must be >= 32 URL-safe characters (24 random bytes); got %d characters", len(t))
	ExpectForwarded(H.On(inst).Get(ctx, protected, Bearer(t)), "a request with the created token")
})

var _ = Requirement("TOKF-002", func(ctx SpecContext) {
	_, file := tokenDir()
	startFromFile(ctx, file, 0)
	Expect(mode(file)).To(Equal(os.FileMode(0o600)), "mode of the created token file")
})

var _ = Requirement("TOKF-003", func(ctx SpecContext) {
	dir, file := tokenDir()
	startFromFile(ctx, file, 0)
	Expect(mode(dir)).To(Equal(os.FileMode(0o700)), "mode of the created token directory")
})

var _ = Requirement("TOKF-004", func(ctx SpecContext) {
	_, file := tokenDir()
	known := NewToken()
	writeToken(file, known+"\n", 0o600)
	before, _ := os.Stat(file)
	inst, _ := startFromFile(ctx, file, 0)
	ExpectForwarded(H.On(inst).Get(ctx, protected, Bearer(known)), "a request with the file's token")
	after, _ := os.Stat(file)
	Expect(readToken(file)).To(Equal(known), "the token file's content after start")
	Expect(after.ModTime()).To(Equal(before.ModTime()), "the token file was rewritten")
})

var _ = Requirement("TOKF-005", func(ctx SpecContext) {
	_, file := tokenDir()
	inst, l := startFromFile(ctx, file, 0)
	t := readToken(file)
	Expect(inst.Kill()).To(Succeed())
	Expect(WaitClosed(inst.Addr(), 5*time.Second)).To(BeTrue(), "port closed after kill")
	again, _ := startFromFile(ctx, file, l.Port)
	Expect(readToken(file)).To(Equal(t), "the token file changed across a restart")
	ExpectForwarded(H.On(again).Get(ctx, protected, Bearer(t)), "the first token after a restart")
})

var _ = Requirement("TOKF-006", func(ctx SpecContext) {
	_, file := tokenDir()
	known := NewToken()
	writeToken(file, known+"\n", 0o644)
	inst, _ := startFromFile(ctx, file, 0)
	Expect(mode(file)).To(Equal(os.FileMode(0o600)), "mode of a 0644 token file after start")
	ExpectForwarded(H.On(inst).Get(ctx, protected, Bearer(known)), "the file's token")
})

func refuseFile(content string, what string) {
	_, file := tokenDir()
	writeToken(file, content, 0o600)
	ExpectRefusal(H.Contract("", file), what)
}

var _ = Requirement("TOKF-007", func(ctx SpecContext) { refuseFile("", "an empty token file") })
var _ = Requirement("TOKF-008", func(ctx SpecContext) { refuseFile(" \n\t \n", "a whitespace-only token file") })

var _ = Requirement("TOKF-009", func(ctx SpecContext) {
	dir, file := tokenDir()
	real := filepath.Join(filepath.Dir(dir), "elsewhere")
	writeToken(real, NewToken()+"\n", 0o600)
	Expect(os.MkdirAll(dir, 0o700)).To(Succeed())
	Expect(os.Symlink(real, file)).To(Succeed())
	ExpectRefusal(H.Contract("", file), "a token file that is a symlink")
})

var _ = Requirement("TOKF-010", func(ctx SpecContext) {
	_, file := tokenDir()
	known := NewToken()
	writeToken(file, known+"\n", 0o600)
	inst, _ := startFromFile(ctx, file, 0)
	ExpectForwarded(H.On(inst).Get(ctx, protected, Bearer(known)), "the file's token without its trailing newline")
})

var _ = Requirement("TOKF-011", func(ctx SpecContext) {
	_, a := tokenDir()
	_, b := tokenDir()
	startFromFile(ctx, a, 0)
	startFromFile(ctx, b, 0)
	Expect(readToken(a)).NotTo(Equal(readToken(b)), "two freshly created token files hold the same token")
})
