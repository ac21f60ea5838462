package rossim

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// maxWord bounds a single word so a garbage length prefix cannot make the
// simulator allocate gigabytes; real clients never send words this long.
const maxWord = 16 << 20

// AppendWord appends the RouterOS API encoding of w (length prefix + bytes)
// to b. All five length forms are produced: 1 byte below 0x80, 2 below
// 0x4000, 3 below 0x200000, 4 below 0x10000000, and 0xF0 + 4 bytes above.
func AppendWord(b []byte, w string) []byte {
	return append(appendLength(b, len(w)), w...)
}

func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		b = append(b, byte(n))
	case n < 0x4000:
		n |= 0x8000
		b = append(b, byte(n>>8), byte(n))
	case n < 0x200000:
		n |= 0xC00000
		b = append(b, byte(n>>16), byte(n>>8), byte(n))
	case n < 0x10000000:
		n |= 0xE0000000
		b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		b = append(b, 0xF0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return b
}

// AppendSentence appends the words and the terminating empty word.
func AppendSentence(b []byte, words ...string) []byte {
	for _, w := range words {
		b = AppendWord(b, w)
	}
	return append(b, 0)
}

// ReadWord reads one length-prefixed word.
func ReadWord(r *bufio.Reader) (string, error) {
	c, err := r.ReadByte()
	if err != nil {
		return "", err
	}
	var n, extra int
	switch {
	case c&0x80 == 0:
		n = int(c)
	case c&0xC0 == 0x80:
		n, extra = int(c&^0xC0), 1
	case c&0xE0 == 0xC0:
		n, extra = int(c&^0xE0), 2
	case c&0xF0 == 0xE0:
		n, extra = int(c&^0xF0), 3
	case c == 0xF0:
		n, extra = 0, 4
	default:
		// 0xF8..0xFF are control bytes in the protocol; nothing sends them.
		return "", fmt.Errorf("rossim: unsupported length prefix 0x%02x", c)
	}
	for range extra {
		c, err := r.ReadByte()
		if err != nil {
			return "", noEOF(err)
		}
		n = n<<8 | int(c)
	}
	if n > maxWord {
		return "", fmt.Errorf("rossim: word of %d bytes too long", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return "", noEOF(err)
	}
	return string(buf), nil
}

// ReadSentence reads words up to the terminating empty word. Empty
// sentences (a lone zero byte) are returned as nil, as the protocol says to
// ignore them.
func ReadSentence(r *bufio.Reader) ([]string, error) {
	var words []string
	for {
		w, err := ReadWord(r)
		if err != nil {
			if len(words) > 0 {
				err = noEOF(err)
			}
			return nil, err
		}
		if w == "" {
			return words, nil
		}
		words = append(words, w)
	}
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}
