package mockollama

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/ollama/ollama/api"
)

const sse = "text/event-stream"

const fingerprint = "fp_ollama"

// OpenAI wire shapes, as Ollama's compatibility layer writes them.
type (
	oaUsage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	}
	oaMessage struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	}
	oaChoice struct {
		Index        int       `json:"index"`
		Message      oaMessage `json:"message"`
		FinishReason *string   `json:"finish_reason"`
	}
	oaChunkChoice struct {
		Index        int       `json:"index"`
		Delta        oaMessage `json:"delta"`
		FinishReason *string   `json:"finish_reason"`
	}
	oaChatCompletion struct {
		ID                string     `json:"id"`
		Object            string     `json:"object"`
		Created           int64      `json:"created"`
		Model             string     `json:"model"`
		SystemFingerprint string     `json:"system_fingerprint"`
		Choices           []oaChoice `json:"choices"`
		Usage             oaUsage    `json:"usage"`
	}
	oaChatChunk struct {
		ID                string          `json:"id"`
		Object            string          `json:"object"`
		Created           int64           `json:"created"`
		Model             string          `json:"model"`
		SystemFingerprint string          `json:"system_fingerprint"`
		Choices           []oaChunkChoice `json:"choices"`
		Usage             *oaUsage        `json:"usage,omitempty"`
	}
	oaTextChoice struct {
		Text         string  `json:"text"`
		Index        int     `json:"index"`
		FinishReason *string `json:"finish_reason"`
	}
	oaCompletion struct {
		ID                string         `json:"id"`
		Object            string         `json:"object"`
		Created           int64          `json:"created"`
		Model             string         `json:"model"`
		SystemFingerprint string         `json:"system_fingerprint"`
		Choices           []oaTextChoice `json:"choices"`
		Usage             *oaUsage       `json:"usage,omitempty"`
	}
	oaStreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	}
)

func event(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"message":"mock: encoding response","type":"api_error","param":null,"code":null}}`)
	}
	out := make([]byte, 0, len(b)+8)
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, '\n', '\n')
}

var doneEvent = []byte("data: [DONE]\n\n")

func stop() *string { s := "stop"; return &s }

// contentText flattens an OpenAI message content: a string or text parts.
func contentText(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case []any:
		var b strings.Builder
		for _, p := range x {
			part, ok := p.(map[string]any)
			if !ok {
				return "", fmt.Errorf("invalid message content part")
			}
			if t, ok := part["text"].(string); ok {
				b.WriteString(t)
			}
		}
		return b.String(), nil
	default:
		return "", fmt.Errorf("invalid message content type: %T", v)
	}
}

func ownedBy(model string) string {
	if i := strings.LastIndex(model, "/"); i >= 0 {
		ns := model[:i]
		if j := strings.LastIndex(ns, "/"); j >= 0 {
			ns = ns[j+1:]
		}
		return ns
	}
	return "library"
}

func (m *Mock) v1Chat(c *call) {
	var req struct {
		Model    string `json:"model"`
		Messages []struct {
			Role    string `json:"role"`
			Content any    `json:"content"`
		} `json:"messages"`
		Stream        bool             `json:"stream"`
		StreamOptions *oaStreamOptions `json:"stream_options"`
	}
	if !c.decode(&req) {
		return
	}
	model := c.requireModel(req.Model)
	if model == "" {
		return
	}
	if isEmbedModel(model) {
		c.error(http.StatusBadRequest, fmt.Sprintf("%q does not support chat", req.Model))
		return
	}
	msgs := make([]api.Message, 0, len(req.Messages))
	for _, msg := range req.Messages {
		text, err := contentText(msg.Content)
		if err != nil {
			c.error(http.StatusBadRequest, err.Error())
			return
		}
		msgs = append(msgs, api.Message{Role: msg.Role, Content: text})
	}
	m.markLoaded(model)
	prompt := chatPrompt(msgs)
	p := c.plan(model, prompt)
	pt := tokens(prompt)
	usage := oaUsage{PromptTokens: pt, CompletionTokens: p.evalCount, TotalTokens: pt + p.evalCount}
	id := fmt.Sprintf("chatcmpl-%d", c.entry.Seq)
	created := c.now().Unix()
	if !req.Stream {
		c.json(http.StatusOK, oaChatCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: model, SystemFingerprint: fingerprint,
			Choices: []oaChoice{{Message: oaMessage{Role: "assistant", Content: p.fullText(c.f.HugeBytes)}, FinishReason: stop()}},
			Usage:   usage,
		})
		return
	}
	chunk := func(delta oaMessage, finish *string) []byte {
		return event(oaChatChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: model, SystemFingerprint: fingerprint,
			Choices: []oaChunkChoice{{Delta: delta, FinishReason: finish}},
		})
	}
	prefix := [][]byte{chunk(oaMessage{Role: "assistant"}, nil)}
	suffix := [][]byte{chunk(oaMessage{Role: "assistant"}, stop())}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		suffix = append(suffix, event(oaChatChunk{
			ID: id, Object: "chat.completion.chunk", Created: created, Model: model, SystemFingerprint: fingerprint,
			Choices: []oaChunkChoice{}, Usage: &usage,
		}))
	}
	suffix = append(suffix, doneEvent)
	c.runText(sse, p, prefix, func() [][]byte { return suffix }, func(s string) []byte { return chunk(oaMessage{Role: "assistant", Content: s}, nil) })
}

func (m *Mock) v1Completions(c *call) {
	var req struct {
		Model         string           `json:"model"`
		Prompt        any              `json:"prompt"`
		Suffix        string           `json:"suffix"`
		Stream        bool             `json:"stream"`
		StreamOptions *oaStreamOptions `json:"stream_options"`
	}
	if !c.decode(&req) {
		return
	}
	model := c.requireModel(req.Model)
	if model == "" {
		return
	}
	if isEmbedModel(model) {
		c.error(http.StatusBadRequest, fmt.Sprintf("%q does not support generate", req.Model))
		return
	}
	promptText, err := contentText(req.Prompt)
	if err != nil {
		c.error(http.StatusBadRequest, "invalid prompt: want a string")
		return
	}
	m.markLoaded(model)
	prompt := "\x00" + promptText // as /api/generate with no system prompt
	p := c.plan(model, prompt)
	pt := tokens(prompt)
	usage := oaUsage{PromptTokens: pt, CompletionTokens: p.evalCount, TotalTokens: pt + p.evalCount}
	id := fmt.Sprintf("cmpl-%d", c.entry.Seq)
	created := c.now().Unix()
	mk := func(text string, finish *string, u *oaUsage, choices bool) oaCompletion {
		out := oaCompletion{ID: id, Object: "text_completion", Created: created, Model: model, SystemFingerprint: fingerprint, Usage: u, Choices: []oaTextChoice{}}
		if choices {
			out.Choices = []oaTextChoice{{Text: text, FinishReason: finish}}
		}
		return out
	}
	if !req.Stream {
		c.json(http.StatusOK, mk(p.fullText(c.f.HugeBytes), stop(), &usage, true))
		return
	}
	suffix := [][]byte{event(mk("", stop(), nil, true))}
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		suffix = append(suffix, event(mk("", nil, &usage, false)))
	}
	suffix = append(suffix, doneEvent)
	c.runText(sse, p, nil, func() [][]byte { return suffix }, func(s string) []byte { return event(mk(s, nil, nil, true)) })
}

type oaModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (m *Mock) v1Models(c *call) {
	data := []oaModel{}
	for _, name := range m.modelList() {
		data = append(data, oaModel{ID: name, Object: "model", Created: modelEpoch.Unix(), OwnedBy: ownedBy(name)})
	}
	c.json(http.StatusOK, map[string]any{"object": "list", "data": data})
}

func (m *Mock) v1Model(c *call) {
	name := strings.TrimPrefix(c.r.URL.Path, "/v1/models/")
	model := c.requireModel(name)
	if model == "" {
		return
	}
	c.json(http.StatusOK, oaModel{ID: model, Object: "model", Created: modelEpoch.Unix(), OwnedBy: ownedBy(model)})
}

func (m *Mock) v1Embeddings(c *call) {
	var req struct {
		Model          string `json:"model"`
		Input          any    `json:"input"`
		Dimensions     int    `json:"dimensions"`
		EncodingFormat string `json:"encoding_format"`
	}
	if !c.decode(&req) {
		return
	}
	if req.Input == nil {
		c.error(http.StatusBadRequest, "invalid input")
		return
	}
	model := c.requireModel(req.Model)
	if model == "" {
		return
	}
	inputs, err := embedInputs(req.Input)
	if err != nil || len(inputs) == 0 {
		c.error(http.StatusBadRequest, "invalid input")
		return
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		c.error(http.StatusBadRequest, fmt.Sprintf("invalid encoding_format %q: want \"float\" or \"base64\"", req.EncodingFormat))
		return
	}
	m.markLoaded(model)
	type emb struct {
		Object    string `json:"object"`
		Embedding any    `json:"embedding"`
		Index     int    `json:"index"`
	}
	data := make([]emb, 0, len(inputs))
	n := 0
	for i, in := range inputs {
		v := Embedding(m.opts.Seed, model, in, req.Dimensions)
		n += tokens(in)
		var e any = v
		if req.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(v))
			for j, f := range v {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(f))
			}
			e = base64.StdEncoding.EncodeToString(buf)
		}
		data = append(data, emb{Object: "embedding", Embedding: e, Index: i})
	}
	c.json(http.StatusOK, map[string]any{
		"object": "list", "data": data, "model": model,
		"usage": map[string]int{"prompt_tokens": n, "total_tokens": n},
	})
}
