package notes

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// noteMap maps an annotated object to its note blob.
type noteMap map[plumbing.Hash]plumbing.Hash

// readNoteMap loads every note of the notes commit nc. It understands any
// fan-out git writes: flat (40-hex names), 2/38, 2/2/36 and mixed layouts,
// since a name's hex digits are the concatenation of its path components.
// Entries that are not notes (non-hex names) are ignored, as git does.
func readNoteMap(st storer.EncodedObjectStorer, nc plumbing.Hash) (noteMap, error) {
	m := noteMap{}
	if nc.IsZero() {
		return m, nil
	}
	c, err := object.GetCommit(st, nc)
	if err != nil {
		return nil, fmt.Errorf("load notes commit %s: %w", nc, err)
	}
	if err := walkNoteTree(st, c.TreeHash, "", m); err != nil {
		return nil, err
	}
	return m, nil
}

func walkNoteTree(st storer.EncodedObjectStorer, th plumbing.Hash, prefix string, m noteMap) error {
	t, err := object.GetTree(st, th)
	if err != nil {
		return fmt.Errorf("load notes tree %s: %w", th, err)
	}
	for _, e := range t.Entries {
		name := prefix + e.Name
		if !isHex(e.Name) || len(name) > 40 {
			continue
		}
		switch {
		case e.Mode == filemode.Dir && len(name) < 40:
			if err := walkNoteTree(st, e.Hash, name, m); err != nil {
				return err
			}
		case e.Mode.IsFile() && len(name) == 40:
			m[plumbing.NewHash(name)] = e.Hash
		}
	}
	return nil
}

// lookupNote finds one note without loading the whole tree: at each level
// it takes the exact remaining name or the subtree named by the next hex
// digits.
func lookupNote(st storer.EncodedObjectStorer, nc, commit plumbing.Hash) (plumbing.Hash, bool, error) {
	if nc.IsZero() {
		return plumbing.ZeroHash, false, nil
	}
	c, err := object.GetCommit(st, nc)
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("load notes commit %s: %w", nc, err)
	}
	rest := commit.String()
	th := c.TreeHash
	for {
		t, err := object.GetTree(st, th)
		if err != nil {
			return plumbing.ZeroHash, false, fmt.Errorf("load notes tree %s: %w", th, err)
		}
		next := plumbing.ZeroHash
		consumed := 0
		for _, e := range t.Entries {
			if e.Name == rest && e.Mode.IsFile() {
				return e.Hash, true, nil
			}
			if e.Mode == filemode.Dir && len(e.Name) < len(rest) && strings.HasPrefix(rest, e.Name) && isHex(e.Name) {
				next, consumed = e.Hash, len(e.Name)
			}
		}
		if next.IsZero() {
			return plumbing.ZeroHash, false, nil
		}
		th, rest = next, rest[consumed:]
	}
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Fanout is the number of 2-hex-digit directory levels used for n notes:
// 0 (flat) below 256 notes, 1 (ab/cdef…) below 65536, and so on. This is
// git fast-import's rule (convert_num_notes_to_fanout). `git notes` itself
// decides per subtree with a trie heuristic, but every git reader accepts
// any fan-out, so tether uses the simpler whole-tree rule and rewrites the
// tree in the new layout when the count crosses a threshold.
func Fanout(n int) int {
	f := 0
	for n >>= 8; n > 0; n >>= 8 {
		f++
	}
	return f
}

// writeNoteTree stores the tree for m (and its subtrees) and returns its
// hash. Objects already in the store are not written again, so rewriting a
// large tree after one change only adds the changed subtrees.
func writeNoteTree(st storer.EncodedObjectStorer, m noteMap) (plumbing.Hash, error) {
	names := make([]string, 0, len(m))
	blobs := make(map[string]plumbing.Hash, len(m))
	for k, v := range m {
		s := k.String()
		names = append(names, s)
		blobs[s] = v
	}
	slices.Sort(names)
	return writeLevel(st, names, blobs, 0, Fanout(len(m)))
}

// writeLevel writes the tree for names (sorted, all sharing the first 2*depth
// hex digits).
func writeLevel(st storer.EncodedObjectStorer, names []string, blobs map[string]plumbing.Hash, depth, fanout int) (plumbing.Hash, error) {
	off := 2 * depth
	t := &object.Tree{}
	if depth == fanout {
		t.Entries = make([]object.TreeEntry, len(names))
		for i, n := range names {
			t.Entries[i] = object.TreeEntry{Name: n[off:], Mode: filemode.Regular, Hash: blobs[n]}
		}
	} else {
		for i := 0; i < len(names); {
			dir := names[i][off : off+2]
			j := i + 1
			for j < len(names) && names[j][off:off+2] == dir {
				j++
			}
			h, err := writeLevel(st, names[i:j], blobs, depth+1, fanout)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			t.Entries = append(t.Entries, object.TreeEntry{Name: dir, Mode: filemode.Dir, Hash: h})
			i = j
		}
	}
	return storeObject(st, t)
}

type encoder interface {
	Encode(plumbing.EncodedObject) error
}

// storeObject encodes o and writes it unless the store already has it.
func storeObject(st storer.EncodedObjectStorer, o encoder) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	if err := o.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode object: %w", err)
	}
	h := obj.Hash()
	if st.HasEncodedObject(h) == nil {
		return h, nil
	}
	if _, err := st.SetEncodedObject(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store object: %w", err)
	}
	return h, nil
}

// storeBlob writes data as a blob.
func storeBlob(st storer.EncodedObjectStorer, data []byte) (plumbing.Hash, error) {
	obj := st.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	h := obj.Hash()
	if st.HasEncodedObject(h) == nil {
		return h, nil
	}
	if _, err := st.SetEncodedObject(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("store blob: %w", err)
	}
	return h, nil
}

// readBlob returns a blob's content.
func readBlob(st storer.EncodedObjectStorer, h plumbing.Hash) ([]byte, error) {
	obj, err := st.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return nil, fmt.Errorf("load note blob %s: %w", h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read note blob %s: %w", h, err)
	}
	return b, nil
}

// noteIndex is the note map of one notes commit grouped by the first two
// hex digits, with the hash of the subtree each group is written as under
// a fan-out of 1 (256 to 65,535 notes): adding a note then rewrites one
// subtree and the root instead of all 256 subtrees. Other sizes are
// rewritten whole, as writeNoteTree does; the trees are the same either way.
type noteIndex struct {
	head   plumbing.Hash // the notes commit described
	groups map[string]noteMap
	sub    map[string]plumbing.Hash // group → subtree; missing: not written yet
	count  int
}

func loadNoteIndex(st storer.EncodedObjectStorer, head plumbing.Hash) (*noteIndex, error) {
	m, err := readNoteMap(st, head)
	if err != nil {
		return nil, err
	}
	x := &noteIndex{head: head, groups: map[string]noteMap{}, sub: map[string]plumbing.Hash{}, count: len(m)}
	for k, v := range m {
		g := k.String()[:2]
		if x.groups[g] == nil {
			x.groups[g] = noteMap{}
		}
		x.groups[g][k] = v
	}
	return x, nil
}

func (x *noteIndex) get(commit plumbing.Hash) (plumbing.Hash, bool) {
	h, ok := x.groups[commit.String()[:2]][commit]
	return h, ok
}

// put sets commit's note blob and writes the tree, returning its hash.
func (x *noteIndex) put(st storer.EncodedObjectStorer, commit, blob plumbing.Hash) (plumbing.Hash, error) {
	g := commit.String()[:2]
	if x.groups[g] == nil {
		x.groups[g] = noteMap{}
	}
	if _, ok := x.groups[g][commit]; !ok {
		x.count++
	}
	x.groups[g][commit] = blob
	delete(x.sub, g)
	if Fanout(x.count) != 1 {
		m := make(noteMap, x.count)
		for _, gm := range x.groups {
			maps.Copy(m, gm)
		}
		return writeNoteTree(st, m)
	}
	root := &object.Tree{}
	for _, g := range slices.Sorted(maps.Keys(x.groups)) {
		h, ok := x.sub[g]
		if !ok {
			names := make([]string, 0, len(x.groups[g]))
			blobs := make(map[string]plumbing.Hash, len(x.groups[g]))
			for k, v := range x.groups[g] {
				names = append(names, k.String())
				blobs[k.String()] = v
			}
			slices.Sort(names)
			var err error
			if h, err = writeLevel(st, names, blobs, 1, 1); err != nil {
				return plumbing.ZeroHash, err
			}
			x.sub[g] = h
		}
		root.Entries = append(root.Entries, object.TreeEntry{Name: g, Mode: filemode.Dir, Hash: h})
	}
	return storeObject(st, root)
}
