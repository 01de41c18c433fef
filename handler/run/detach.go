package run

import (
	"io"
	"os"
)

// A detached command's output goes to unlinked temporary files rather than
// pipes (see Run).

// maxDetachedOutput bounds what is read back of a detached command's output.
const maxDetachedOutput = 1 << 20

// detachedOutput creates two unlinked temporary files for stdout and stderr.
func detachedOutput() ([]*os.File, error) {
	var fs []*os.File
	for i := 0; i < 2; i++ {
		f, err := os.CreateTemp("", "aadsshlogin-out-")
		if err != nil {
			closeFiles(fs)
			return nil, err
		}
		_ = os.Remove(f.Name())
		fs = append(fs, f)
	}
	return fs, nil
}

// readBack returns the last maxDetachedOutput bytes written to f.
func readBack(f *os.File) []byte {
	end, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return nil
	}
	start := max(end-maxDetachedOutput, 0)
	b := make([]byte, end-start)
	n, _ := f.ReadAt(b, start)
	return b[:n]
}

func closeFiles(fs []*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
