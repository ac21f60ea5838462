package mikrotik

import (
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
)

// Capture records the RouterOS API sentences that cross a connection, in
// both directions, with secrets redacted, so a user with real hardware can
// attach what the router really said to a bug report (tether doctor
// --capture). It decodes the API's own framing (length-prefixed words, a
// sentence ends with an empty word) from the clear stream after TLS, and
// writes one JSON object per sentence and line:
//
//	{"dir":"send","words":["/system/resource/print","=.proplist=version"]}
//	{"dir":"recv","words":["!re","=version=7.22.3 (stable)"]}
//
// Only sentences completed while recording is on are written, so write
// checks can run on the same connection unrecorded.
type Capture struct {
	mu  sync.Mutex
	enc *json.Encoder
	on  bool
	err error
}

// NewCapture writes to w.
func NewCapture(w io.Writer) *Capture { return &Capture{enc: json.NewEncoder(w)} }

// Record turns recording on or off.
func (c *Capture) Record(on bool) {
	c.mu.Lock()
	c.on = on
	c.mu.Unlock()
}

// Err is the first write error, if any.
func (c *Capture) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Tap wraps a connection; use it as Conn.Tap.
func (c *Capture) Tap(nc net.Conn) net.Conn {
	return &tapConn{Conn: nc, c: c, in: &wordDecoder{dir: "recv"}, out: &wordDecoder{dir: "send"}}
}

type captured struct {
	Dir   string   `json:"dir"`
	Words []string `json:"words"`
}

func (c *Capture) sentence(dir string, words []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.on || c.err != nil {
		return
	}
	c.err = c.enc.Encode(captured{Dir: dir, Words: words})
}

type tapConn struct {
	net.Conn
	c       *Capture
	in, out *wordDecoder
}

func (t *tapConn) Read(b []byte) (int, error) {
	n, err := t.Conn.Read(b)
	t.in.feed(b[:n], t.c.sentence)
	return n, err
}

func (t *tapConn) Write(b []byte) (int, error) {
	n, err := t.Conn.Write(b)
	t.out.feed(b[:n], t.c.sentence)
	return n, err
}

// wordDecoder reassembles API words and sentences from a byte stream.
type wordDecoder struct {
	dir   string
	buf   []byte
	words []string
}

func (d *wordDecoder) feed(b []byte, emit func(dir string, words []string)) {
	d.buf = append(d.buf, b...)
	for {
		n, hdr := wordLen(d.buf)
		if hdr == 0 || len(d.buf) < hdr+n {
			return
		}
		w := string(d.buf[hdr : hdr+n])
		d.buf = d.buf[hdr+n:]
		if n == 0 {
			emit(d.dir, d.words)
			d.words = nil
			continue
		}
		d.words = append(d.words, redactWord(w))
	}
}

// wordLen decodes an API length prefix: the length and the prefix's size,
// or hdr 0 when b does not hold the whole prefix yet.
func wordLen(b []byte) (n, hdr int) {
	if len(b) == 0 {
		return 0, 0
	}
	c := b[0]
	switch {
	case c < 0x80:
		return int(c), 1
	case c < 0xC0:
		hdr, n = 2, int(c&0x3F)
	case c < 0xE0:
		hdr, n = 3, int(c&0x1F)
	case c < 0xF0:
		hdr, n = 4, int(c&0x0F)
	default:
		hdr, n = 5, 0
	}
	if len(b) < hdr {
		return 0, 0
	}
	for _, x := range b[1:hdr] {
		n = n<<8 | int(x)
	}
	return n, hdr
}

// redacted replaces a secret's value in a capture.
const redacted = "(redacted)"

// redactWord hides the value of an attribute word (=name=value) or a query
// word (?name=value) that carries a secret: the login password, private
// and preshared keys, other secrets.
func redactWord(w string) string {
	if len(w) < 2 || (w[0] != '=' && w[0] != '?') {
		return w
	}
	name, value, ok := strings.Cut(w[1:], "=")
	if !ok || value == "" || !(secretAttrs[name] || name == "response") { // response: the pre-6.43 login hash
		return w
	}
	return w[:1] + name + "=" + redacted
}
