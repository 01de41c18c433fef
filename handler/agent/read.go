package agent

import (
	"errors"
	"io"
)

// readUpTo reads until buf is full or EOF; EOF is not an error.
func readUpTo(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}
