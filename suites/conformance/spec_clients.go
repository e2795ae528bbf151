package conformance

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// bearerTransport adds the token to every request, as a deployment's client
// (or OpenShell's egress proxy) does.
type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

func ollamaClient(token string) *api.Client {
	u, _ := url.Parse("http://" + H.Proxy.Addr())
	return api.NewClient(u, &http.Client{Transport: bearerTransport{token: token, base: H.client.Transport}})
}

func openaiClient(token string) *openai.Client {
	c := openai.NewClient(
		option.WithBaseURL("http://"+H.Proxy.Addr()+"/v1/"),
		option.WithAPIKey(token),
		option.WithHTTPClient(&http.Client{Transport: H.client.Transport}),
		option.WithMaxRetries(0),
	)
	return &c
}

var _ = Requirement("CLNT-001", func(ctx SpecContext) {
	list, err := ollamaClient(H.Token).List(ctx)
	Expect(err).NotTo(HaveOccurred(), "api.Client.List through the proxy")
	Expect(list.Models).NotTo(BeEmpty(), "models listed")
})

var _ = Requirement("CLNT-002", func(ctx SpecContext) {
	var chunks []string
	var done bool
	err := ollamaClient(H.Token).Generate(ctx, &api.GenerateRequest{Model: "llama3.2:1b", Prompt: "why gates?"}, func(r api.GenerateResponse) error {
		chunks = append(chunks, r.Response)
		done = done || r.Done
		return nil
	})
	Expect(err).NotTo(HaveOccurred(), "api.Client.Generate through the proxy")
	Expect(len(chunks)).To(BeNumerically(">", 2), "streamed chunks")
	Expect(done).To(BeTrue(), "the final done response")
	Expect(strings.Join(chunks, "")).NotTo(BeEmpty())
})

var _ = Requirement("CLNT-003", func(ctx SpecContext) {
	var content strings.Builder
	var done bool
	err := ollamaClient(H.Token).Chat(ctx, &api.ChatRequest{Model: "llama3.2:1b", Messages: []api.Message{{Role: "user", Content: "hello"}}}, func(r api.ChatResponse) error {
		content.WriteString(r.Message.Content)
		done = done || r.Done
		return nil
	})
	Expect(err).NotTo(HaveOccurred(), "api.Client.Chat through the proxy")
	Expect(done).To(BeTrue())
	Expect(content.String()).NotTo(BeEmpty())
})

var _ = Requirement("CLNT-004", func(ctx SpecContext) {
	var statuses []string
	err := ollamaClient(H.Token).Pull(ctx, &api.PullRequest{Model: "llama3.2:1b"}, func(p api.ProgressResponse) error {
		statuses = append(statuses, p.Status)
		return nil
	})
	Expect(err).NotTo(HaveOccurred(), "api.Client.Pull through the proxy")
	Expect(statuses).To(ContainElement("success"), "pull progress")
})

var _ = Requirement("CLNT-005", func(ctx SpecContext) {
	_, err := ollamaClient(NewToken()).ListRunning(ctx) // GET /api/ps: /api/tags may be exempt
	Expect(err).To(HaveOccurred(), "a wrong token must fail")
	var authErr api.AuthorizationError
	var statusErr api.StatusError
	switch {
	case errors.As(err, &authErr):
		Expect(authErr.StatusCode).To(Equal(401))
	case errors.As(err, &statusErr):
		Expect(statusErr.StatusCode).To(Equal(401), "status of the client's error")
	default:
		Fail("expected a 401 status error from the Ollama client, got: " + err.Error())
	}
})

var _ = Requirement("CLNT-006", func(ctx SpecContext) {
	page, err := openaiClient(H.Token).Models.List(ctx)
	Expect(err).NotTo(HaveOccurred(), "openai Models.List through the proxy")
	Expect(page.Data).NotTo(BeEmpty())
})

func chatParams() openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: "llama3.2:1b", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hello")}}
}

var _ = Requirement("CLNT-007", func(ctx SpecContext) {
	c, err := openaiClient(H.Token).Chat.Completions.New(ctx, chatParams())
	Expect(err).NotTo(HaveOccurred(), "openai chat completion through the proxy")
	Expect(c.Choices).NotTo(BeEmpty())
	Expect(c.Choices[0].Message.Content).NotTo(BeEmpty())
})

var _ = Requirement("CLNT-008", func(ctx SpecContext) {
	stream := openaiClient(H.Token).Chat.Completions.NewStreaming(ctx, chatParams())
	acc := openai.ChatCompletionAccumulator{}
	n := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		n++
	}
	Expect(stream.Err()).NotTo(HaveOccurred(), "openai streaming through the proxy")
	Expect(n).To(BeNumerically(">", 2), "stream chunks")
	Expect(acc.Choices).NotTo(BeEmpty())
	Expect(acc.Choices[0].Message.Content).NotTo(BeEmpty())
	Expect(string(acc.Choices[0].FinishReason)).To(Equal("stop"))
})

var _ = Requirement("CLNT-009", func(ctx SpecContext) {
	e, err := openaiClient(H.Token).Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "nomic-embed-text:latest",
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("tollgate")},
	})
	Expect(err).NotTo(HaveOccurred(), "openai embeddings through the proxy")
	Expect(e.Data).NotTo(BeEmpty())
	Expect(e.Data[0].Embedding).NotTo(BeEmpty())
})
