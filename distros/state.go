package distros

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// stateFileName is the record, in Installer.StateDir, of what we changed.
const stateFileName = "distros-repo.json"

// managedFile is a system file we wrote. If it existed before we first
// wrote it, Previous holds that content and Remove restores it; otherwise
// Remove deletes the file.
type managedFile struct {
	Path        string `json:"path"`
	HadPrevious bool   `json:"hadPrevious"`
	Previous    []byte `json:"previous,omitempty"`
}

// repoState is the JSON record in StateDir.
type repoState struct {
	Files []managedFile `json:"files"`
	// ZypperLock is true when we added the zypper lock on aadsshlogin.
	ZypperLock bool `json:"zypperLock,omitempty"`
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
	if len(s.Files) == 0 && !s.ZypperLock {
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
}

// fileTx writes managed files and can undo this run's writes.
type fileTx struct {
	root  sysroot.Root
	in    *Installer
	state *repoState
	undo  []undoEntry
}

// write makes the system file p hold data. The state record is saved
// before the file changes, so a crash never leaves an unrecorded file.
func (tx *fileTx) write(p string, data []byte) (changed bool, err error) {
	cur, existed, err := readOptional(tx.root, p)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", p, err)
	}
	if existed && bytes.Equal(cur, data) {
		return false, nil
	}
	tracked := tx.state.find(p) >= 0
	if !tracked {
		tx.state.Files = append(tx.state.Files, managedFile{Path: p, HadPrevious: existed, Previous: cur})
		if err := tx.in.saveState(*tx.state); err != nil {
			return false, err
		}
	}
	tx.undo = append(tx.undo, undoEntry{path: p, existed: existed, previous: cur, wasTracked: tracked})
	if err := writeSys(tx.root, p, data); err != nil {
		return false, fmt.Errorf("write %s: %w", p, err)
	}
	return true, nil
}

// rollback restores every file this run changed, newest first.
func (tx *fileTx) rollback() error {
	var errs []error
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		var err error
		if u.existed {
			err = writeSys(tx.root, u.path, u.previous)
		} else {
			err = removeSys(tx.root, u.path)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !u.wasTracked {
			if j := tx.state.find(u.path); j >= 0 {
				tx.state.Files = append(tx.state.Files[:j], tx.state.Files[j+1:]...)
			}
		}
	}
	tx.undo = nil
	errs = append(errs, tx.in.saveState(*tx.state))
	return errors.Join(errs...)
}

// removeManaged deletes or restores every recorded file.
func (in *Installer) removeManaged(s *repoState) error {
	var errs []error
	var keep []managedFile
	for _, f := range s.Files {
		var err error
		if f.HadPrevious {
			err = writeSys(in.Root, f.Path, f.Previous)
		} else {
			err = removeSys(in.Root, f.Path)
		}
		if err != nil {
			errs = append(errs, err)
			keep = append(keep, f)
		}
	}
	s.Files = keep
	return errors.Join(errs...)
}
