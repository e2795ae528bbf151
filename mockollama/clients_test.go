package mockollama_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate-dev/tollgate/mockollama"
)

func ollamaClient(t *testing.T, s *mockollama.Server) *api.Client {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return api.NewClient(u, http.DefaultClient)
}

func TestOllamaClient(t *testing.T) {
	s := start(t, mockollama.Options{Seed: 7})
	c := ollamaClient(t, s)
	ctx := context.Background()

	v, err := c.Version(ctx)
	if err != nil || v != mockollama.DefaultVersion {
		t.Fatalf("Version = %q, %v", v, err)
	}
	if err := c.Heartbeat(ctx); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}

	list, err := c.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var names []string
	for _, m := range list.Models {
		names = append(names, m.Name)
		if m.Model != m.Name || m.Size == 0 || len(m.Digest) != 64 || m.ModifiedAt.IsZero() || m.Details.Format != "gguf" {
			t.Errorf("model entry incomplete: %+v", m)
		}
	}
	if strings.Join(names, ",") != strings.Join(mockollama.DefaultModels, ",") {
		t.Errorf("models = %v, want %v", names, mockollama.DefaultModels)
	}

	t.Run("generate streaming", func(t *testing.T) {
		var parts []api.GenerateResponse
		err := c.Generate(ctx, &api.GenerateRequest{Model: "llama3.2:1b", Prompt: "why is the sky blue?"}, func(r api.GenerateResponse) error {
			parts = append(parts, r)
			return nil
		})
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		if len(parts) != mockollama.DefaultChunks+1 {
			t.Fatalf("got %d lines, want %d content + done", len(parts), mockollama.DefaultChunks)
		}
		var text strings.Builder
		for i, p := range parts[:len(parts)-1] {
			if p.Done || p.Response == "" || p.Model != "llama3.2:1b" {
				t.Errorf("chunk %d = %+v", i, p)
			}
			text.WriteString(p.Response)
		}
		last := parts[len(parts)-1]
		if !last.Done || last.DoneReason != "stop" || len(last.Context) == 0 || last.EvalCount == 0 ||
			last.TotalDuration == 0 || last.LoadDuration == 0 || last.PromptEvalCount == 0 || last.EvalDuration == 0 {
			t.Errorf("done line = %+v", last)
		}
		// Non-streamed gives the same text.
		f := false
		var one api.GenerateResponse
		if err := c.Generate(ctx, &api.GenerateRequest{Model: "llama3.2:1b", Prompt: "why is the sky blue?", Stream: &f}, func(r api.GenerateResponse) error {
			one = r
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if one.Response != text.String() || !one.Done {
			t.Errorf("stream:false text %q, streamed %q", one.Response, text.String())
		}
	})

	t.Run("chat streaming", func(t *testing.T) {
		var parts []api.ChatResponse
		err := c.Chat(ctx, &api.ChatRequest{Model: "qwen2.5:0.5b", Messages: []api.Message{{Role: "user", Content: "hello"}},
			Options: map[string]any{"mock_chunks": 3}}, func(r api.ChatResponse) error {
			parts = append(parts, r)
			return nil
		})
		if err != nil {
			t.Fatalf("Chat: %v", err)
		}
		if len(parts) != 4 {
			t.Fatalf("got %d lines, want 3 content (options.mock_chunks) + done", len(parts))
		}
		for _, p := range parts[:3] {
			if p.Message.Role != "assistant" || p.Message.Content == "" {
				t.Errorf("chunk = %+v", p)
			}
		}
		if !parts[3].Done || parts[3].DoneReason != "stop" {
			t.Errorf("done = %+v", parts[3])
		}
	})

	t.Run("pull", func(t *testing.T) {
		var st []api.ProgressResponse
		if err := c.Pull(ctx, &api.PullRequest{Model: "tinyllama"}, func(p api.ProgressResponse) error {
			st = append(st, p)
			return nil
		}); err != nil {
			t.Fatalf("Pull: %v", err)
		}
		if st[0].Status != "pulling manifest" || st[len(st)-1].Status != "success" {
			t.Fatalf("statuses %v", st)
		}
		var sawLayer bool
		last := map[string]int64{}
		for _, p := range st {
			if strings.HasPrefix(p.Status, "pulling ") && p.Digest != "" {
				sawLayer = true
				if !strings.HasPrefix(p.Digest, "sha256:") || p.Status != "pulling "+p.Digest[7:19] || p.Total == 0 || p.Completed < last[p.Digest] {
					t.Errorf("layer line %+v", p)
				}
				last[p.Digest] = p.Completed
			}
		}
		for d, done := range last {
			_ = d
			if done == 0 {
				t.Errorf("layer %s never progressed", d)
			}
		}
		if !sawLayer {
			t.Error("no layer lines")
		}
		want := []string{"verifying sha256 digest", "writing manifest", "success"}
		for i, w := range want {
			if got := st[len(st)-3+i].Status; got != w {
				t.Errorf("status %d from end = %q, want %q", 3-i, got, w)
			}
		}
		// A pulled model is listed afterwards.
		list, _ := c.List(ctx)
		found := false
		for _, m := range list.Models {
			found = found || m.Name == "tinyllama:latest"
		}
		if !found {
			t.Error("pulled model not listed")
		}
	})

	t.Run("embed", func(t *testing.T) {
		r, err := c.Embed(ctx, &api.EmbedRequest{Model: "nomic-embed-text", Input: []string{"a", "b"}})
		if err != nil {
			t.Fatalf("Embed: %v", err)
		}
		if len(r.Embeddings) != 2 || len(r.Embeddings[0]) != 768 {
			t.Fatalf("embeddings shape %d x %d", len(r.Embeddings), len(r.Embeddings[0]))
		}
		r2, _ := c.Embed(ctx, &api.EmbedRequest{Model: "nomic-embed-text", Input: "a"})
		for i := range r2.Embeddings[0] {
			if r2.Embeddings[0][i] != r.Embeddings[0][i] {
				t.Fatal("embedding not deterministic")
			}
		}
		old, err := c.Embeddings(ctx, &api.EmbeddingRequest{Model: "nomic-embed-text", Prompt: "a"})
		if err != nil || len(old.Embedding) != 768 || float32(old.Embedding[5]) != r.Embeddings[0][5] {
			t.Fatalf("Embeddings: %v, len %d", err, len(old.Embedding))
		}
	})

	t.Run("show and ps", func(t *testing.T) {
		sh, err := c.Show(ctx, &api.ShowRequest{Model: "llama3.2:1b"})
		if err != nil || sh.Details.Family != "llama" || sh.Modelfile == "" {
			t.Fatalf("Show = %+v, %v", sh, err)
		}
		ps, err := c.ListRunning(ctx)
		if err != nil || len(ps.Models) == 0 {
			t.Fatalf("ListRunning = %+v, %v", ps, err)
		}
	})

	t.Run("errors", func(t *testing.T) {
		err := c.Generate(ctx, &api.GenerateRequest{Model: "nope", Prompt: "x"}, func(api.GenerateResponse) error { return nil })
		var se api.StatusError
		if !errors.As(err, &se) || se.StatusCode != 404 || se.ErrorMessage != "model 'nope' not found" {
			t.Errorf("unknown model: %v", err)
		}
		_, err = c.Show(ctx, &api.ShowRequest{})
		if !errors.As(err, &se) || se.StatusCode != 400 {
			t.Errorf("missing model: %v", err)
		}
	})

	t.Run("blobs", func(t *testing.T) {
		data := strings.Repeat("tollgate blob ", 100000)
		digest := "sha256:" + sha([]byte(data))
		if err := c.CreateBlob(ctx, digest, strings.NewReader(data)); err != nil {
			t.Fatalf("CreateBlob: %v", err)
		}
		if r := do(t, "HEAD", s.URL+"/api/blobs/"+digest, "", nil); r.status != 200 {
			t.Errorf("HEAD uploaded blob = %d", r.status)
		}
		if r := do(t, "HEAD", s.URL+"/api/blobs/sha256:"+strings.Repeat("0", 64), "", nil); r.status != 404 {
			t.Errorf("HEAD unknown blob = %d", r.status)
		}
		if r := do(t, "POST", s.URL+"/api/blobs/"+digest, "other", nil); r.status != 400 {
			t.Errorf("mismatched blob = %d", r.status)
		}
		if r := do(t, "POST", s.URL+"/api/blobs/"+digest, data, nil); r.status != 201 {
			t.Errorf("re-upload = %d", r.status)
		}
	})
}

func openaiClient(s *mockollama.Server) openai.Client {
	return openai.NewClient(option.WithBaseURL(s.URL+"/v1/"), option.WithAPIKey("x"), option.WithMaxRetries(0))
}

func TestOpenAISDK(t *testing.T) {
	s := start(t, mockollama.Options{Seed: 3})
	c := openaiClient(s)
	ctx := context.Background()

	page, err := c.Models.List(ctx)
	if err != nil {
		t.Fatalf("Models.List: %v", err)
	}
	if len(page.Data) != 3 || page.Data[0].ID != "llama3.2:1b" || page.Data[0].OwnedBy != "library" {
		t.Errorf("models = %+v", page.Data)
	}
	m, err := c.Models.Get(ctx, "qwen2.5:0.5b")
	if err != nil || m.ID != "qwen2.5:0.5b" {
		t.Errorf("Models.Get = %+v, %v", m, err)
	}

	params := openai.ChatCompletionNewParams{
		Model:    "llama3.2:1b",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello there")},
	}
	cc, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatalf("Chat.Completions.New: %v", err)
	}
	if len(cc.Choices) != 1 || cc.Choices[0].Message.Content == "" || cc.Choices[0].FinishReason != "stop" || cc.Usage.TotalTokens == 0 {
		t.Fatalf("completion = %+v", cc)
	}

	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	st := c.Chat.Completions.NewStreaming(ctx, params)
	var acc openai.ChatCompletionAccumulator
	n := 0
	for st.Next() {
		acc.AddChunk(st.Current())
		n++
	}
	if err := st.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	// role + 8 content + finish + usage ([DONE] is consumed by the SDK)
	if n != mockollama.DefaultChunks+3 {
		t.Errorf("chunks = %d, want %d", n, mockollama.DefaultChunks+3)
	}
	if got := acc.Choices[0].Message.Content; got != cc.Choices[0].Message.Content {
		t.Errorf("streamed %q, non-streamed %q", got, cc.Choices[0].Message.Content)
	}
	if acc.Choices[0].FinishReason != "stop" || acc.Usage.TotalTokens != cc.Usage.TotalTokens {
		t.Errorf("accumulated finish %q usage %+v", acc.Choices[0].FinishReason, acc.Usage)
	}

	// Same conversation through /api/chat gives the same text.
	var native strings.Builder
	if err := ollamaClient(t, s).Chat(ctx, &api.ChatRequest{Model: "llama3.2:1b", Messages: []api.Message{{Role: "user", Content: "hello there"}}},
		func(r api.ChatResponse) error { native.WriteString(r.Message.Content); return nil }); err != nil {
		t.Fatal(err)
	}
	if native.String() != cc.Choices[0].Message.Content {
		t.Errorf("/api/chat %q != /v1 %q", native.String(), cc.Choices[0].Message.Content)
	}

	emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "nomic-embed-text",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"x", "y"}},
	})
	if err != nil {
		t.Fatalf("Embeddings.New: %v", err)
	}
	if len(emb.Data) != 2 || len(emb.Data[1].Embedding) != 768 || emb.Data[1].Index != 1 {
		t.Errorf("embeddings = %d items", len(emb.Data))
	}

	comp, err := c.Completions.New(ctx, openai.CompletionNewParams{
		Model:  "llama3.2:1b",
		Prompt: openai.CompletionNewParamsPromptUnion{OfString: openai.String("once upon")},
	})
	if err != nil || len(comp.Choices) != 1 || comp.Choices[0].Text == "" {
		t.Fatalf("Completions.New = %+v, %v", comp, err)
	}

	_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "nope", Messages: params.Messages})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.Message, "not found") {
		t.Errorf("unknown model via SDK: %v", err)
	}
}
