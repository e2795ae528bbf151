package mockollama

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/ollama/ollama/api"
)

// modelEpoch is every model's modified_at, so /api/tags is byte-stable.
var modelEpoch = time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)

// normalizeModel gives a model name its default tag, as Ollama does.
func normalizeModel(name string) string {
	name = strings.TrimSpace(name)
	if name == "" {
		return ""
	}
	slash := strings.LastIndex(name, "/")
	if !strings.Contains(name[slash+1:], ":") {
		name += ":latest"
	}
	return name
}

func isEmbedModel(name string) bool { return strings.Contains(strings.ToLower(name), "embed") }

func digestOf(parts ...string) [32]byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func modelDigest(name string) string {
	d := digestOf("model", name)
	return hex.EncodeToString(d[:])
}

func modelSize(name string) int64 {
	d := digestOf("size", name)
	return 100_000_000 + int64(binary.BigEndian.Uint32(d[:4])%1_900_000_000)
}

func modelDetails(name string) api.ModelDetails {
	base := name
	if i := strings.LastIndex(base, "/"); i >= 0 {
		base = base[i+1:]
	}
	repo, tag, _ := strings.Cut(base, ":")
	family := strings.ToLower(strings.SplitN(repo, "-", 2)[0])
	if i := strings.IndexFunc(family, func(r rune) bool { return r < 'a' || r > 'z' }); i >= 0 {
		family = family[:i]
	}
	if family == "" {
		family = "llama"
	}
	paramSize := "1.2B"
	switch {
	case isEmbedModel(name):
		family, paramSize = "nomic-bert", "137M"
	case strings.HasSuffix(tag, "b") && len(tag) > 1:
		paramSize = strings.ToUpper(tag)
	}
	if strings.HasPrefix(repo, "qwen2") {
		family = "qwen2"
	}
	quant := "Q4_K_M"
	if isEmbedModel(name) {
		quant = "F16"
	}
	return api.ModelDetails{
		Format: "gguf", Family: family, Families: []string{family},
		ParameterSize: paramSize, QuantizationLevel: quant,
	}
}

// rng returns a generator determined by seed and parts.
func rng(seed int64, parts ...string) *rand.Rand {
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], uint64(seed))
	d := digestOf(append([]string{string(s[:])}, parts...)...)
	return rand.New(rand.NewPCG(binary.BigEndian.Uint64(d[:8]), binary.BigEndian.Uint64(d[8:16])))
}

var vocabulary = strings.Fields(`the a an model token stream proxy local llama answer quick brown fox
jumps over lazy dog bearer header request response chunk byte packet socket loopback gate toll
river stone cloud signal kernel vector matrix prompt reply quiet steady bright simple careful
green amber silver window garden harbor lantern meadow orbit pixel rocket summit thunder valley`)

// Text is the completion the mock gives for (seed, model, prompt): a
// deterministic sentence-like string of 24 to 40 words.
func Text(seed int64, model, prompt string) string {
	r := rng(seed, "text", normalizeModel(model), prompt)
	n := 24 + r.IntN(17)
	return words(r, n)
}

func words(r *rand.Rand, n int) string {
	var b strings.Builder
	capital := true
	for i := range n {
		w := vocabulary[r.IntN(len(vocabulary))]
		if i > 0 {
			b.WriteByte(' ')
		}
		if capital {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
		capital = i == n-1 || r.IntN(9) == 0
		if capital {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// textFor returns the text, extended deterministically when it is too short
// to give every one of chunks a non-empty piece.
func textFor(seed int64, model, prompt string, chunks int) string {
	t := Text(seed, model, prompt)
	if len(t) >= chunks {
		return t
	}
	r := rng(seed, "more", normalizeModel(model), prompt)
	var b strings.Builder
	b.WriteString(t)
	for b.Len() < chunks {
		b.WriteByte(' ')
		b.WriteString(words(r, 16))
	}
	return b.String()
}

// split cuts t into n pieces of near-equal byte length (t is ASCII).
func split(t string, n int) []string {
	if n < 1 {
		n = 1
	}
	out := make([]string, 0, n)
	for i := range n {
		lo, hi := i*len(t)/n, (i+1)*len(t)/n
		out = append(out, t[lo:hi])
	}
	return out
}

// tokens is a rough token count, at least 1.
func tokens(s string) int { return len(strings.Fields(s)) + len(s)/16 + 1 }

// contextTokens is the deterministic "context" a generate response returns.
func contextTokens(seed int64, model, prompt, text string) []int {
	r := rng(seed, "ctx", normalizeModel(model), prompt)
	n := tokens(prompt) + tokens(text)
	if n > 4096 {
		n = 4096
	}
	out := make([]int, n)
	for i := range out {
		out[i] = 1 + r.IntN(128000)
	}
	return out
}

// Embedding is the deterministic, unit-length vector the mock gives for
// (seed, model, input).
func Embedding(seed int64, model, input string, dims int) []float32 {
	if dims <= 0 {
		dims = defaultDims(model)
	}
	r := rng(seed, "embed", normalizeModel(model), input)
	v := make([]float32, dims)
	var sum float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		sum += x * x
	}
	norm := float32(math.Sqrt(sum))
	for i := range v {
		v[i] /= norm
	}
	return v
}

func defaultDims(model string) int {
	if isEmbedModel(model) {
		return 768
	}
	return 2048
}

// metrics are fake but deterministic timings for a response of evalCount
// tokens after a prompt of promptCount tokens.
func metrics(promptCount, evalCount int) api.Metrics {
	load := 12 * time.Millisecond
	pe := time.Duration(promptCount) * 2 * time.Millisecond
	ev := time.Duration(evalCount) * 10 * time.Millisecond
	return api.Metrics{
		TotalDuration: load + pe + ev, LoadDuration: load,
		PromptEvalCount: promptCount, PromptEvalDuration: pe,
		EvalCount: evalCount, EvalDuration: ev,
	}
}
