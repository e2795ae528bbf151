package catalog

import (
	"os"
	"strings"
	"testing"
)

func TestCatalogueIsWellFormed(t *testing.T) {
	all := All()
	if len(all) < 60 {
		t.Fatalf("the catalogue has %d requirements; the design asks for 60 or more", len(all))
	}
	for _, r := range all {
		if !strings.Contains(r.Text, string(r.Level)) {
			t.Errorf("%s: its text should state its level %s in RFC 2119 words: %q", r.ID, r.Level, r.Text)
		}
		if strings.Count(strings.TrimSuffix(r.Text, "."), ". ") > 0 {
			t.Errorf("%s: spec text must be one sentence: %q", r.ID, r.Text)
		}
	}
}

func TestDeclareRejectsDuplicatesAndMalformedIDs(t *testing.T) {
	for name, r := range map[string]Requirement{
		"duplicate": {ID: "AUTH-001", Level: Must, Text: "x MUST y."},
		"malformed": {ID: "auth-1", Level: Must, Text: "x MUST y."},
		"no level":  {ID: "ZZZ-999", Text: "x MUST y."},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("declare accepted a %s requirement", name)
				}
			}()
			declare("test", r)
		})
	}
}

func TestRequirementsMarkdownIsCurrent(t *testing.T) {
	b, err := os.ReadFile("../REQUIREMENTS.md")
	if err != nil {
		t.Fatalf("suites/REQUIREMENTS.md is missing: run `make requirements`")
	}
	if string(b) != Markdown() {
		t.Fatalf("suites/REQUIREMENTS.md is stale: run `make requirements` and commit the result")
	}
}
