package main

import "go.uber.org/zap/zapcore"

// uniqueCore drops a field whose key the line already has. Several layers
// add the site (the command, the agent, the device, the notes store), and
// zap writes every copy: `{"site": "home", "site": "home"}` is noise in the
// journal and invalid for strict JSON readers. The first value wins; after
// a zap.Namespace keys are scoped, so nothing more is dropped.
type uniqueCore struct {
	zapcore.Core
	keys   map[string]bool
	nested bool // a Namespace field was added: later keys live inside it
}

func uniqueFields(c zapcore.Core) zapcore.Core { return &uniqueCore{Core: c, keys: map[string]bool{}} }

func (c *uniqueCore) filter(fields []zapcore.Field) ([]zapcore.Field, map[string]bool, bool) {
	keys := make(map[string]bool, len(c.keys)+len(fields))
	for k := range c.keys {
		keys[k] = true
	}
	nested := c.nested
	keep := fields[:0:0]
	for _, f := range fields {
		if !nested && keys[f.Key] {
			continue
		}
		if f.Type == zapcore.NamespaceType {
			nested = true
		}
		keys[f.Key] = true
		keep = append(keep, f)
	}
	return keep, keys, nested
}

func (c *uniqueCore) With(fields []zapcore.Field) zapcore.Core {
	keep, keys, nested := c.filter(fields)
	return &uniqueCore{Core: c.Core.With(keep), keys: keys, nested: nested}
}

func (c *uniqueCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *uniqueCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	keep, _, _ := c.filter(fields)
	return c.Core.Write(e, keep)
}
