package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tether-net/tether/agent"
)

// TestUniqueFields: a key added at several layers is written once, with the
// first value; distinct keys and namespaced keys all stay.
func TestUniqueFields(t *testing.T) {
	var buf bytes.Buffer
	enc := zapcore.NewJSONEncoder(zapcore.EncoderConfig{MessageKey: "msg"})
	log := zap.New(uniqueFields(zapcore.NewCore(enc, zapcore.AddSync(&buf), zap.DebugLevel)))
	log = log.With(zap.String("site", "home"))
	log.With(zap.String("site", "home"), zap.String("txn", "t1")).Info("applied", zap.String("site", "other"), zap.Int("writes", 2))
	log.Info("nested", zap.Namespace("peer"), zap.String("site", "far"))
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{
		`{"msg":"applied","site":"home","txn":"t1","writes":2}`,
		`{"msg":"nested","site":"home","peer":{"site":"far"}}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d lines:\n%s", len(got), buf.String())
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestStatusLine(t *testing.T) {
	next := time.Date(2026, 12, 3, 10, 30, 15, 0, time.UTC)
	at := time.Date(2026, 12, 3, 10, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		st   agent.State
		err  error
		want string
	}{
		{agent.State{}, nil, "running nothing yet; next poll 10:30:15Z"},
		{agent.State{Running: "0123456789abcdef0123", LastResult: "applied", LastCommit: "0123456789abcdef0123", LastAt: at}, nil,
			"running 0123456789ab; last applied 0123456789ab at 2026-12-03 10:30:00Z; next poll 10:30:15Z"},
		{agent.State{Running: "0123456789abcdef0123", LastResult: "reverted", LastCommit: "fedcba9876543210", LastAt: at}, errors.New("fetch: connection refused"),
			"running 0123456789ab; last reverted fedcba987654 at 2026-12-03 10:30:00Z; sync failing: fetch: connection refused; next poll 10:30:15Z"},
	} {
		if got := statusLine(&c.st, c.err, next); got != c.want {
			t.Errorf("statusLine(%+v, %v)\n got %s\nwant %s", c.st, c.err, got, c.want)
		}
	}
}
