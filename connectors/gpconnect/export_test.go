package gpconnect

import (
	"context"

	"github.com/carerecord/carerecord/connectors"
)

// Fetch exposes fetch (the record and its account) to the tests.
func (c *Client) Fetch(ctx context.Context, nhs string) (*connectors.Record, map[string]string, error) {
	return c.fetch(ctx, nhs)
}
