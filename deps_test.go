// Keeps the design card's libraries pinned in go.mod until every package that uses them has landed.
package tollgate_test

import (
	_ "github.com/ollama/ollama/api"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/gomega"
	_ "github.com/openai/openai-go/v3"
	_ "github.com/ory/dockertest/v3"
	_ "github.com/testcontainers/testcontainers-go"
	_ "github.com/testcontainers/testcontainers-go/network"
	_ "go.yaml.in/yaml/v3"
	_ "github.com/onsi/ginkgo/v2/reporters"
)
