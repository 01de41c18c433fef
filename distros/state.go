package distros

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// stateFileName is the record, in Installer.StateDir, of what we changed.
const stateFileName = "distros-repo.json"

// managedFile is a system file we wrote. A file is ours by content, not by
// name: SHA256 is the hash of what we last wrote, and only while the file
// still holds exactly that (or is absent) do we rewrite or remove it.
// Other Microsoft products (packages-microsoft-prod, Defender for Endpoint,
// the azure-cli instructions) write the same names; once one of them has
// rewritten the file it is theirs and we leave it alone.
//
// HadPrevious/Previous come from versions that overwrote a file someone
// else had written first (this version writes next to such a file
// instead): Remove restores that content if the file is still ours.
type managedFile struct {
	Path        string `json:"path"`
	HadPrevious bool   `json:"hadPrevious"`
	Previous    []byte `json:"previous,omitempty"`
	SHA256      string `json:"sha256,omitempty"`
	// PrevSHA256 is the hash of what we wrote before SHA256: the record is
	// saved before the file is written, so a kill in between leaves our
	// previous content, which is still ours.
	PrevSHA256 string `json:"prevSha256,omitempty"`
}

// contentHash is the hex SHA-256 recorded for a file we wrote.
func contentHash(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// ownedContent reports whether cur, the current content of the recorded
// file f, is still what we wrote. Records without a hash (older versions)
// count as ours while a repository file still carries our header, and
// for key files, which carry none.
func (f managedFile) ownedContent(cur []byte) bool {
	if ourHeader(cur) {
		return true
	}
	if f.SHA256 != "" {
		h := contentHash(cur)
		return h == f.SHA256 || h == f.PrevSHA256
	}
	return strings.HasSuffix(f.Path, ".gpg") || strings.HasSuffix(f.Path, ".asc")
}

// ourHeader reports whether a repository file starts with the header we
// write: no other program writes it, so such a file is ours even without
// a record (one lost with the state folder, or a kill between writing
// the record and the file).
func ourHeader(cur []byte) bool { return bytes.HasPrefix(cur, []byte(repo.Header)) }

// repoState is the JSON record in StateDir.
type repoState struct {
	Files []managedFile `json:"files"`
	// ZypperLock is true when we added the zypper lock on aadsshlogin.
	ZypperLock bool `json:"zypperLock,omitempty"`
	// Running is a detached transaction of ours that was still running
	// when a command's budget ended; the next run waits for it.
	Running *runningTx `json:"running,omitempty"`
}

// runningTx identifies a detached package-manager transaction we started.
type runningTx struct {
	Pid int `json:"pid"`
	// Program is the base name of the program we started (apt-get, dnf…),
	// to tell our process from a later one that reuses the pid.
	Program string `json:"program"`
	Cmd     string `json:"cmd"`
}

func (s *repoState) find(p string) int {
	for i, f := range s.Files {
		if f.Path == p {
			return i
		}
	}
	return -1
}

func (s *repoState) paths() map[string]bool {
	m := map[string]bool{}
	for _, f := range s.Files {
		m[f.Path] = true
	}
	return m
}

func (in *Installer) statePath() (string, error) {
	if in.StateDir == "" {
		return "", failure.New(failure.Internal, "distros: Installer.StateDir is not set")
	}
	return filepath.Join(in.StateDir, stateFileName), nil
}

func (in *Installer) loadState() (repoState, error) {
	var s repoState
	p, err := in.statePath()
	if err != nil {
		return s, err
	}
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		return repoState{}, failure.Wrap(failure.Internal, err,
			"the record of repository files written by the extension (%s) is unreadable; delete it, "+failure.SetAgain, p)
	}
	return s, nil
}

func (in *Installer) saveState(s repoState) error {
	p, err := in.statePath()
	if err != nil {
		return err
	}
	if len(s.Files) == 0 && !s.ZypperLock && s.Running == nil {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		return nil
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(in.StateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	return atomicfile.WriteFile(p, data, 0o600)
}

// undoEntry restores one file to what it was before this run.
type undoEntry struct {
	path       string
	existed    bool
	previous   []byte
	wasTracked bool
	prevHash   string
}

// fileTx writes managed files and can undo this run's writes.
type fileTx struct {
	root  sysroot.Root
	in    *Installer
	state *repoState
	undo  []undoEntry
	// warnings are for Result.Warnings (files left to someone else).
	warnings []string
}

func (tx *fileTx) warn(format string, args ...any) {
	tx.warnings = append(tx.warnings, fmt.Sprintf(format, args...))
}

// ours reports whether we may write the system file p: it is absent, or
// recorded and still holds what we wrote.
func (tx *fileTx) ours(p string) (bool, error) {
	cur, existed, err := readOptional(tx.root, p)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", p, err)
	}
	if !existed {
		return true, nil
	}
	if i := tx.state.find(p); i >= 0 {
		return tx.state.Files[i].ownedContent(cur), nil
	}
	return ourHeader(cur), nil
}

// disown forgets the recorded files whose content someone else has
// replaced (they are theirs now: never rewritten, removed or restored)
// and returns their paths.
func (tx *fileTx) disown() ([]string, error) {
	var gone []string
	keep := tx.state.Files[:0:0]
	for _, f := range tx.state.Files {
		cur, existed, err := readOptional(tx.root, f.Path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", f.Path, err)
		}
		if existed && !f.ownedContent(cur) {
			gone = append(gone, f.Path)
			continue
		}
		keep = append(keep, f)
	}
	if len(gone) == 0 {
		return nil, nil
	}
	tx.state.Files = keep
	return gone, tx.in.saveState(*tx.state)
}

// write makes the system file p, which must be ours (see ours), hold
// data. The state record, with the hash of data, is saved before the file
// changes, so a crash never leaves an unrecorded file.
func (tx *fileTx) write(p string, data []byte) (changed bool, err error) {
	cur, existed, err := readOptional(tx.root, p)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", p, err)
	}
	i := tx.state.find(p)
	tracked := i >= 0
	if existed && bytes.Equal(cur, data) {
		if !tracked && ourHeader(cur) {
			// Ours from a run whose record is gone: record it again, so
			// Remove deletes it.
			tx.state.Files = append(tx.state.Files, managedFile{Path: p, SHA256: contentHash(data)})
			return false, tx.in.saveState(*tx.state)
		}
		return false, nil
	}
	var prevHash string
	if !tracked {
		// A file with our header but no record is our own earlier content:
		// nothing to restore on Remove.
		rec := managedFile{Path: p}
		if existed && !ourHeader(cur) {
			rec.HadPrevious, rec.Previous = true, cur
		}
		tx.state.Files = append(tx.state.Files, rec)
		i = len(tx.state.Files) - 1
	} else {
		prevHash = tx.state.Files[i].SHA256
	}
	tx.state.Files[i].SHA256, tx.state.Files[i].PrevSHA256 = contentHash(data), prevHash
	if err := tx.in.saveState(*tx.state); err != nil {
		return false, err
	}
	tx.undo = append(tx.undo, undoEntry{path: p, existed: existed, previous: cur, wasTracked: tracked, prevHash: prevHash})
	if err := writeSys(tx.root, p, data); err != nil {
		return false, fmt.Errorf("write %s: %w", p, err)
	}
	return true, nil
}

// remove deletes the system file p, which must be ours, and its record
// (undone by rollback like a write).
func (tx *fileTx) remove(p string) error {
	cur, existed, err := readOptional(tx.root, p)
	if err != nil || !existed {
		return err
	}
	i := tx.state.find(p)
	u := undoEntry{path: p, existed: true, previous: cur, wasTracked: i >= 0}
	if i >= 0 {
		u.prevHash = tx.state.Files[i].SHA256
		tx.state.Files = append(tx.state.Files[:i], tx.state.Files[i+1:]...)
		if err := tx.in.saveState(*tx.state); err != nil {
			return err
		}
	}
	tx.undo = append(tx.undo, u)
	return removeSys(tx.root, p)
}

// rollback restores every file this run changed, newest first.
func (tx *fileTx) rollback() error {
	var errs []error
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		if err := restoreSys(tx.root, u.path, u.existed, u.previous); err != nil {
			errs = append(errs, err)
			continue
		}
		switch j := tx.state.find(u.path); {
		case j >= 0 && u.wasTracked:
			tx.state.Files[j].SHA256 = u.prevHash
		case j >= 0:
			tx.state.Files = append(tx.state.Files[:j], tx.state.Files[j+1:]...)
		case u.wasTracked: // removed by tx.remove
			tx.state.Files = append(tx.state.Files, managedFile{Path: u.path, SHA256: u.prevHash})
		}
	}
	tx.undo = nil
	errs = append(errs, tx.in.saveState(*tx.state))
	return errors.Join(errs...)
}

// removeManaged deletes or restores every recorded file that is still
// ours; one another program has rewritten is left as it is (and named in
// a progress line).
func (in *Installer) removeManaged(s *repoState) error {
	var errs []error
	var keep []managedFile
	for _, f := range s.Files {
		cur, existed, err := readOptional(in.Root, f.Path)
		if err != nil {
			errs = append(errs, err)
			keep = append(keep, f)
			continue
		}
		if existed && !f.ownedContent(cur) {
			in.progress("left %s as it is: another program has rewritten it since this extension wrote it", f.Path)
			continue
		}
		if err := restoreSys(in.Root, f.Path, f.HadPrevious, f.Previous); err != nil {
			errs = append(errs, err)
			keep = append(keep, f)
		}
	}
	s.Files = keep
	return errors.Join(errs...)
}
