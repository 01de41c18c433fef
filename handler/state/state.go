// Package state keeps the handler's version-independent state in one folder
// outside the versioned extension folder (the agent deletes that folder on
// update and removal): the lock that serialises invocations, the update
// marker that stops an old version's uninstall from removing the packages,
// install's hand-off to enable, the record of an unfinished removal and the
// record of the last successful enable.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
)

// DefaultDir is the state folder on a real machine.
const DefaultDir = "/var/lib/aadsshlogin-extension"

// The JSON records in the state folder.
const (
	markerFile  = "update-in-progress.json"
	handOffFile = "install-handoff.json"
	pendingFile = "removal-pending.json"
	recordFile  = "last-success.json"
)

// Dir is the state folder.
type Dir struct {
	Path  string
	Clock clock.Clock
	// PID is written into the lock file while we hold it, so that a run
	// waiting for the lock can name the holder.
	PID int
	// Boot is the current boot's id (BootID); markers that must not
	// outlive a reboot record it and are ignored under another one.
	Boot string
}

// Ensure creates the folder with mode 0700.
func (d Dir) Ensure() error {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("state folder: %w", err)
	}
	return os.Chmod(d.Path, 0o700)
}

// UpdateMarker says that version From is being replaced by version To.
// Its validity never depends on the wall clock (a clock step at boot would
// make it look old or from the future): it protects only From's uninstall,
// in the boot it was written in (the agent runs old disable, new update,
// old uninstall, new install in one pass; after a reboot it starts the
// update over and writes a new marker).
type UpdateMarker struct {
	From string `json:"from"`
	To   string `json:"to"`
	Boot string `json:"boot"`
	// Time is informational (logs) only.
	Time time.Time `json:"time"`
}

// WriteUpdateMarker records an update in progress in the current boot.
func (d Dir) WriteUpdateMarker(m UpdateMarker) error {
	m.Boot = d.Boot
	return d.marker().write(m)
}

// ActiveUpdate returns the marker when it protects the packages from the
// uninstall of version: an update from version (or from an unknown
// version) to another one, recorded in this boot.
func (d Dir) ActiveUpdate(version string) (UpdateMarker, bool) {
	m, err := d.marker().read()
	if err != nil {
		return m, false
	}
	return m, m.Boot == d.Boot && m.To != version && (m.From == version || m.From == "")
}

// ClearUpdateMarker removes the marker; a missing marker is fine.
func (d Dir) ClearUpdateMarker() error { return d.marker().remove() }

// Note is one warning carried by a hand-off (a substatus).
type Note struct {
	Name    string `json:"name"`
	Message string `json:"message"`
}

// HandOff is install's outcome for enable of the same sequence number.
// The agent runs install, then enable, for a first deployment; install
// does the network work and always exits 0 after a classified failure
// (the agent would hide its status), and enable reports what install found
// instead of checking the identity and refreshing the repository again.
// It is valid once, for the same handler version, sequence number and boot.
type HandOff struct {
	Version string `json:"version"`
	Seq     int    `json:"seq"`
	Boot    string `json:"boot"`
	// Code is install's exit code (0: success).
	Code    int    `json:"code"`
	Message string `json:"message"`
	Notes   []Note `json:"notes,omitempty"`
	// Time is informational (logs) only.
	Time time.Time `json:"time"`
}

// WriteHandOff records install's outcome for the current boot.
func (d Dir) WriteHandOff(h HandOff) error {
	h.Boot = d.Boot
	return d.handOff().write(h)
}

// TakeHandOff consumes the hand-off: it is removed whatever it says, and
// returned only when it was written by version for seq in this boot.
func (d Dir) TakeHandOff(version string, seq int) (HandOff, bool, error) {
	h, err := d.handOff().read()
	if errors.Is(err, os.ErrNotExist) {
		return h, false, nil
	}
	if rerr := d.handOff().remove(); rerr != nil {
		// A hand-off that cannot be removed would be reported again.
		return h, false, rerr
	}
	return h, err == nil && h.Version == version && h.Seq == seq && h.Boot == d.Boot, nil
}

// RemovalPending records an uninstall that did not finish: the agent
// deletes the extension folder whatever uninstall returns and never runs it
// again, so the next install or enable finishes the interrupted removal
// state before converging.
type RemovalPending struct {
	Version string `json:"version"`
	// Left says what was left behind, in words for the user.
	Left string    `json:"left"`
	Code int       `json:"code"`
	Time time.Time `json:"time"`
}

// WriteRemovalPending records an unfinished removal.
func (d Dir) WriteRemovalPending(p RemovalPending) error { return d.pending().write(p) }

// PendingRemoval returns the record of an unfinished removal, if any.
func (d Dir) PendingRemoval() (RemovalPending, bool) { return d.pending().found() }

// ClearRemovalPending removes the record; a missing one is fine.
func (d Dir) ClearRemovalPending() error { return d.pending().remove() }

// Record describes the last successful enable.
type Record struct {
	Version string    `json:"version"`
	Seq     int       `json:"seq"`
	Time    time.Time `json:"time"`
	// Message and Notes are that enable's status, which enable's fast path
	// reports again for the same sequence number.
	Message string `json:"message,omitempty"`
	Notes   []Note `json:"notes,omitempty"`
}

// WriteRecord stores the last successful enable.
func (d Dir) WriteRecord(r Record) error { return d.record().write(r) }

// LastSuccess returns the record of the last successful enable, if any.
func (d Dir) LastSuccess() (Record, bool) { return d.record().found() }

// Forget removes the record (after uninstall).
func (d Dir) Forget() error { return d.record().remove() }

// jsonFile is the JSON file name in the state folder d holding one T.
type jsonFile[T any] struct {
	d    Dir
	name string
}

// The records, by their file names.
func (d Dir) marker() jsonFile[UpdateMarker]    { return jsonFile[UpdateMarker]{d, markerFile} }
func (d Dir) handOff() jsonFile[HandOff]        { return jsonFile[HandOff]{d, handOffFile} }
func (d Dir) pending() jsonFile[RemovalPending] { return jsonFile[RemovalPending]{d, pendingFile} }
func (d Dir) record() jsonFile[Record]          { return jsonFile[Record]{d, recordFile} }

func (f jsonFile[T]) path() string { return filepath.Join(f.d.Path, f.name) }

// write stores v atomically, creating the state folder first.
func (f jsonFile[T]) write(v T) error {
	if err := f.d.Ensure(); err != nil {
		return err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(f.path(), data, 0o600)
}

// read decodes the file, of at most 64 KiB; a larger one fails to decode
// (it is cut off), so it counts as absent like any corrupt file.
func (f jsonFile[T]) read() (T, error) {
	var v T
	r, err := os.Open(f.path())
	if err != nil {
		return v, err
	}
	defer r.Close()
	err = json.NewDecoder(io.LimitReader(r, 64<<10)).Decode(&v)
	return v, err
}

// found is read for callers that only ask whether a valid record exists.
func (f jsonFile[T]) found() (T, bool) {
	v, err := f.read()
	return v, err == nil
}

// remove deletes the file; a missing one is fine.
func (f jsonFile[T]) remove() error {
	if err := os.Remove(f.path()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
