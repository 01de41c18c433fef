package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
)

// SequenceEnv is the variable the agent sets on every command.
const SequenceEnv = "ConfigSequenceNumber"

// maxSeq keeps sequence numbers in a sane range (the agent's are small).
const maxSeq = 1<<31 - 1

// ErrNoSequence is returned when neither the environment nor the config
// folder tells the sequence number.
var ErrNoSequence = errors.New("no sequence number: ConfigSequenceNumber is unset and the config folder has no settings file")

// ParseSeq parses a decimal sequence number.
func ParseSeq(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > maxSeq {
		return 0, fmt.Errorf("sequence number %q is not a number between 0 and %d", truncate(s, 40), maxSeq)
	}
	return n, nil
}

// seqFile is <folder>/<seq><ext>: the agent names the files of one sequence
// number that way (<seq>.settings in the config folder, <seq>.status in the
// status folder).
func seqFile(folder string, seq int, ext string) string {
	return filepath.Join(folder, strconv.Itoa(seq)+ext)
}

// SequenceNumber returns the sequence number to act on: ConfigSequenceNumber
// when set, else the most recently modified <N>.settings in configFolder
// (ties broken by the larger N), which is how the agent itself infers it.
func SequenceNumber(getenv func(string) string, configFolder string) (int, error) {
	if v := getenv(SequenceEnv); v != "" {
		return ParseSeq(v)
	}
	entries, err := os.ReadDir(configFolder)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNoSequence, err)
	}
	best, found := -1, false
	var bestTime int64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".settings") || e.IsDir() {
			continue
		}
		n, err := ParseSeq(strings.TrimSuffix(name, ".settings"))
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		t := info.ModTime().UnixNano()
		if !found || t > bestTime || (t == bestTime && n > best) {
			best, bestTime, found = n, t, true
		}
	}
	if !found {
		return 0, ErrNoSequence
	}
	return best, nil
}

// MRSeq is the handler-owned "most recently processed sequence number" file,
// kept in the extension folder so the agent carries it over on update.
type MRSeq struct{ Path string }

// MRSeqIn returns the mrseq file of an extension folder.
func MRSeqIn(baseDir string) MRSeq { return MRSeq{Path: filepath.Join(baseDir, "mrseq")} }

// Load returns the stored number, or ok=false when there is none. A corrupt
// file counts as none (the next enable simply does the work again).
func (m MRSeq) Load() (seq int, ok bool) {
	data, err := readCapped(m.Path, 64)
	if err != nil {
		return 0, false
	}
	n, err := ParseSeq(string(data))
	if err != nil {
		return 0, false
	}
	return n, true
}

// Store records seq atomically (mode 0600).
func (m MRSeq) Store(seq int) error {
	return atomicfile.WriteFile(m.Path, []byte(strconv.Itoa(seq)), 0o600)
}
