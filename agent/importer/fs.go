package importer

import (
	"testing/fstest"
)

// mapFS is the repo with the import's files laid over it, for validation.
type mapFS map[string][]byte

func (m mapFS) fs() fstest.MapFS {
	out := fstest.MapFS{}
	for p, b := range m {
		out[p] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	return out
}
