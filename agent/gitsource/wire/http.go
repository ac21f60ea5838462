package wire

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/storer"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/storage/memory"
)

// userAgent starts with "git/": some forges serve the smart protocol only
// to user agents that look like git.
const userAgent = "git/tether"

// httpRemote speaks smart HTTP. The v2 capability advertisement is read
// once and kept: an agent polls the same server for months, and a server
// that stops answering in v2 makes a request fail, which forgets it.
type httpRemote struct {
	base   string // repository URL without credentials or trailing slash
	auth   githttp.AuthMethod
	client *http.Client

	mu      sync.Mutex
	probed  bool
	isV2    bool
	sha1Cap bool // server advertised object-format=sha1
}

// v2 reports whether the server speaks protocol v2, asking it once.
func (h *httpRemote) v2(ctx context.Context) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.probed {
		return h.isV2, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/info/refs?service=git-upload-pack", nil)
	if err != nil {
		return false, err
	}
	h.header(req)
	resp, err := h.client.Do(req)
	if err != nil {
		return false, fmt.Errorf("list refs: %w", err)
	}
	defer resp.Body.Close()
	if err := httpError(resp); err != nil {
		return false, err
	}
	caps, v2, err := readV2Caps(bufio.NewReader(resp.Body))
	if err != nil {
		return false, err
	}
	format, hasFormat := caps["object-format"]
	// Commands tether needs, over SHA-1 (go-git v5's only object format).
	h.isV2 = v2 && has(caps, "ls-refs") && has(caps, "fetch") && (!hasFormat || format == "sha1")
	h.sha1Cap = hasFormat
	h.probed = true
	return h.isV2, nil
}

func has(caps map[string]string, k string) bool { _, ok := caps[k]; return ok }

// forget drops the cached advertisement after a failed request.
func (h *httpRemote) forget() {
	h.mu.Lock()
	h.probed = false
	h.mu.Unlock()
}

func (h *httpRemote) header(req *http.Request) {
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Git-Protocol", "version=2")
	if h.auth != nil {
		h.auth.SetAuth(req)
	}
}

// httpStatusError is a non-200 answer.
type httpStatusError struct {
	code int
	msg  string
}

func (e *httpStatusError) Error() string {
	switch e.code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Sprintf("http %d: authentication required or refused: %s", e.code, e.msg)
	case http.StatusNotFound:
		return "http 404: repository not found"
	}
	return fmt.Sprintf("http %d: %s", e.code, e.msg)
}

func httpError(resp *http.Response) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	return &httpStatusError{code: resp.StatusCode, msg: strings.TrimSpace(string(b))}
}

// readV2Caps reads an info/refs answer: v2 yields its capabilities, a v0
// ref advertisement yields v2 == false.
func readV2Caps(r *bufio.Reader) (map[string]string, bool, error) {
	caps := map[string]string{}
	kind, line, err := readPkt(r)
	if err != nil {
		return nil, false, fmt.Errorf("read capabilities: %w", err)
	}
	if kind == pktData && bytes.HasPrefix(line, []byte("# service=")) {
		// Smart-HTTP preamble; a flush follows.
		if kind, _, err = readPkt(r); err != nil || kind != pktFlush {
			return nil, false, fmt.Errorf("read capabilities: bad service preamble")
		}
		if kind, line, err = readPkt(r); err != nil {
			return nil, false, fmt.Errorf("read capabilities: %w", err)
		}
	}
	if kind != pktData || string(bytes.TrimSuffix(line, []byte("\n"))) != "version 2" {
		return nil, false, nil
	}
	for {
		kind, line, err := readPkt(r)
		if err != nil {
			return nil, false, fmt.Errorf("read capabilities: %w", err)
		}
		if kind == pktFlush {
			return caps, true, nil
		}
		k, v, _ := strings.Cut(strings.TrimSuffix(string(line), "\n"), "=")
		caps[k] = v
	}
}

// command POSTs one v2 command and returns the response body.
func (h *httpRemote) command(ctx context.Context, cmd string, args []string) (io.ReadCloser, error) {
	var body bytes.Buffer
	writePkt(&body, "command="+cmd+"\n")
	writePkt(&body, "agent="+userAgent+"\n")
	h.mu.Lock()
	if h.sha1Cap {
		writePkt(&body, "object-format=sha1\n")
	}
	h.mu.Unlock()
	body.WriteString(delimPkt)
	for _, a := range args {
		writePkt(&body, a+"\n")
	}
	body.WriteString(flushPkt)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/git-upload-pack", &body)
	if err != nil {
		return nil, err
	}
	h.header(req)
	req.Header.Set("Content-Type", "application/x-git-upload-pack-request")
	req.Header.Set("Accept", "application/x-git-upload-pack-result")
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	if err := httpError(resp); err != nil {
		resp.Body.Close()
		h.forget()
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return resp.Body, nil
}

func (h *httpRemote) lsRefs(ctx context.Context, names []plumbing.ReferenceName) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	body, err := h.command(ctx, "ls-refs", lsRefsArgs(names))
	if err != nil {
		return nil, err
	}
	defer body.Close()
	out, err := readLsRefs(bufio.NewReader(body), names)
	if err != nil {
		h.forget()
	}
	return out, err
}

func lsRefsArgs(names []plumbing.ReferenceName) []string {
	args := make([]string, len(names))
	for i, n := range names {
		args[i] = "ref-prefix " + n.String()
	}
	return args
}

// readLsRefs reads an ls-refs answer, keeping the refs named exactly (a
// prefix also matches longer names).
func readLsRefs(r *bufio.Reader, names []plumbing.ReferenceName) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	want := map[plumbing.ReferenceName]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[plumbing.ReferenceName]plumbing.Hash{}
	for {
		kind, line, err := readPkt(r)
		if err != nil {
			return nil, fmt.Errorf("ls-refs: %w", err)
		}
		if kind == pktFlush {
			return out, nil
		}
		// "<oid> <name>[ attributes]"
		f := strings.Fields(string(line))
		if len(f) < 2 || len(f[0]) != 40 {
			return nil, fmt.Errorf("ls-refs: malformed line %q", line)
		}
		if name := plumbing.ReferenceName(f[1]); want[name] {
			out[name] = plumbing.NewHash(f[0])
		}
	}
}

func fetchArgs(wants, haves []plumbing.Hash) []string {
	args := []string{"ofs-delta", "no-progress"}
	for _, w := range wants {
		args = append(args, "want "+w.String())
	}
	for _, hv := range haves {
		args = append(args, "have "+hv.String())
	}
	return append(args, "done")
}

// fetch runs one v2 fetch with "done": no negotiation rounds, the server
// sends a pack of what wants reach and haves do not.
func (h *httpRemote) fetch(ctx context.Context, st storer.Storer, wants, haves []plumbing.Hash) error {
	body, err := h.command(ctx, "fetch", fetchArgs(wants, haves))
	if err != nil {
		return err
	}
	defer body.Close()
	if err := readPackResponse(ctx, bufio.NewReader(body), st, wants); err != nil {
		h.forget()
		return fmt.Errorf("fetch: %w", err)
	}
	return nil
}

// readPackResponse skips the sections before "packfile" and stores the
// pack carried on the side-band's data channel.
func readPackResponse(ctx context.Context, r *bufio.Reader, st storer.Storer, wants []plumbing.Hash) error {
	for {
		kind, line, err := readPkt(r)
		if err != nil {
			return err
		}
		if kind == pktData && string(line) == "packfile\n" {
			break
		}
		if kind == pktFlush {
			return errors.New("no packfile section")
		}
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := storePack(ctx, st, bufio.NewReader(pr), wants)
		pr.CloseWithError(err) // unblock the writer if the store gave up
		done <- err
	}()
	err := demux(r, pw)
	pw.CloseWithError(err)
	if serr := <-done; err == nil {
		err = serr
	}
	return err
}

// unpackLimit is git's default fetch.unpackLimit: a pack of fewer objects
// is stored as loose objects. Keeping every small fetch as a pack of its
// own would leave the clone with one pack per poll that found a change,
// and every object lookup searches every pack's index.
const unpackLimit = 100

// storePack writes a pack to st: as a pack when large, else as loose
// objects written children first (parsed in memory, then copied from the
// wanted tips down), so a crash never leaves an object whose children are
// missing.
func storePack(ctx context.Context, st storer.Storer, r *bufio.Reader, wants []plumbing.Hash) error {
	hdr, err := r.Peek(12)
	if err != nil {
		return fmt.Errorf("read pack header: %w", err)
	}
	if string(hdr[:4]) != "PACK" {
		return errors.New("not a pack")
	}
	if binary.BigEndian.Uint32(hdr[8:12]) >= unpackLimit {
		return packfile.UpdateObjectStorage(st, r)
	}
	mem := memory.NewStorage()
	p, err := packfile.NewParserWithStorage(packfile.NewScanner(r), mem)
	if err != nil {
		return err
	}
	if _, err := p.Parse(); err != nil {
		return fmt.Errorf("parse pack: %w", err)
	}
	// What the pack lacks, the server left out because we have it.
	return copyClosure(ctx, mem, st, wants, func(h plumbing.Hash) bool { return mem.HasEncodedObject(h) != nil })
}

// demux copies side-band channel 1 to w until the flush; channel 3 is the
// server's fatal error, channel 2 progress (not requested).
func demux(r *bufio.Reader, w io.Writer) error {
	for {
		kind, line, err := readPkt(r)
		if err != nil {
			return err
		}
		if kind != pktData {
			return nil
		}
		if len(line) == 0 {
			continue
		}
		switch line[0] {
		case 1:
			if _, err := w.Write(line[1:]); err != nil {
				return err
			}
		case 3:
			return fmt.Errorf("remote error: %s", strings.TrimSpace(string(line[1:])))
		}
	}
}

// push sends one ref update straight to git-receive-pack. Stateless HTTP
// needs no advertisement first: the server checks old itself when it
// applies the update, which is the compare-and-swap tether relies on.
func (h *httpRemote) push(ctx context.Context, st storer.Storer, ref plumbing.ReferenceName, old, new plumbing.Hash) error {
	var body bytes.Buffer
	writePkt(&body, fmt.Sprintf("%s %s %s\x00report-status agent=%s\n", old, new, ref, userAgent))
	body.WriteString(flushPkt)
	objs, err := newObjects(ctx, st, new, old)
	if err != nil {
		return err
	}
	if _, err := packfile.NewEncoder(&body, st, false).Encode(objs, 0); err != nil {
		return fmt.Errorf("encode pack: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/git-receive-pack", &body)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", userAgent)
	if h.auth != nil {
		h.auth.SetAuth(req)
	}
	req.Header.Set("Content-Type", "application/x-git-receive-pack-request")
	req.Header.Set("Accept", "application/x-git-receive-pack-result")
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	defer resp.Body.Close()
	if err := httpError(resp); err != nil {
		return fmt.Errorf("push: %w", err)
	}
	rs := packp.NewReportStatus()
	if err := rs.Decode(resp.Body); err != nil {
		return fmt.Errorf("push: read report: %w", err)
	}
	if rs.UnpackStatus != "ok" {
		return fmt.Errorf("push: remote could not unpack: %s", rs.UnpackStatus)
	}
	for _, cs := range rs.CommandStatuses {
		if cs.Status != "ok" {
			return fmt.Errorf("%w: %s %s", ErrRejected, cs.ReferenceName, cs.Status)
		}
	}
	return nil
}
