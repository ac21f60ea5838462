package wire

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
)

// pkt-line framing (gitprotocol-common(5)): a 4-hex-digit length that
// counts itself, then the payload; 0000 is flush, 0001 delim (v2), 0002
// response-end (v2). go-git's scanner knows only flush, hence this reader.
const (
	flushPkt = "0000"
	delimPkt = "0001"
	maxPkt   = 65520
)

type pktKind int

const (
	pktData pktKind = iota
	pktFlush
	pktDelim
	pktEnd
)

func writePkt(w io.Writer, s string) {
	fmt.Fprintf(w, "%04x%s", len(s)+4, s)
}

// readPkt returns the next pkt-line; the payload is valid until the next
// call. An "ERR " line is returned as an error.
func readPkt(r *bufio.Reader) (pktKind, []byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	n, err := strconv.ParseUint(string(hdr[:]), 16, 16)
	if err != nil {
		return 0, nil, fmt.Errorf("bad pkt-line length %q", hdr[:])
	}
	switch {
	case n == 0:
		return pktFlush, nil, nil
	case n == 1:
		return pktDelim, nil, nil
	case n == 2:
		return pktEnd, nil, nil
	case n < 4 || n > maxPkt:
		return 0, nil, fmt.Errorf("bad pkt-line length %d", n)
	}
	buf := make([]byte, n-4)
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	if len(buf) >= 4 && string(buf[:4]) == "ERR " {
		return 0, nil, fmt.Errorf("remote error: %s", buf[4:])
	}
	return pktData, buf, nil
}
