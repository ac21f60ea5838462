package main

import (
	"fmt"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/metrics"
	"github.com/tether-net/tether/agent/notify"
	"github.com/tether-net/tether/agent/secret"
)

// newNotifier builds the [notify] webhook client, reading its credential
// files now so that a missing file stops the agent at start-up rather than
// at the first revert. nil when [notify] url is unset.
func newNotifier(c config.Notify, log *zap.Logger, m *metrics.Metrics) (*notify.Notifier, error) {
	if c.URL == "" {
		return nil, nil
	}
	headers, err := notify.ReadHeaders(c.HeadersFile)
	if err != nil {
		return nil, err
	}
	if c.TokenFile != "" {
		token, err := secret.Read(c.TokenFile)
		if err != nil || token == "" {
			return nil, fmt.Errorf("notify.token_file must hold a token: %v", err)
		}
		headers.Set("Authorization", "Bearer "+token)
	}
	return notify.New(notify.Options{URL: c.URL, Format: c.Format, Results: c.Results, Headers: headers,
		Priority: c.Priority, Attempts: c.Attempts, Timeout: c.Timeout.Duration, QueueSize: c.QueueSize,
		Log: log.With(zap.String("step", "notify")), Dropped: m.NotifyDropped})
}
