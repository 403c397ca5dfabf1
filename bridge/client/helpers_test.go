package client_test

import (
	"context"
	"os"

	dto "github.com/prometheus/client_model/go"

	"github.com/lighthouse-project/lighthouse/bridge/client"
	"github.com/lighthouse-project/lighthouse/bridge/coord"
)

type (
	dtoFamily        = dto.MetricFamily
	coordDelegation  = coord.Delegation
	coordTask        = coord.Task
	coordCollab      = coord.Collaboration
	coordElicitation = coord.Elicitation
)

func metrics(c *client.Client, ctx context.Context) (map[string]*dtoFamily, error) {
	return c.Metrics(ctx)
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
