package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
	"unicode/utf8"

	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
)

// StatusType is the value of status.status the agent accepts.
type StatusType string

// The four values the agent accepts.
const (
	Transitioning StatusType = "transitioning"
	Success       StatusType = "success"
	Error         StatusType = "error"
	Warning       StatusType = "warning"
)

// Limits the agent and portal apply to status files.
const (
	MaxMessage          = 1024      // what the portal shows of the top-level message
	MaxSubstatusMessage = 4 << 10   // we stay well under the agent's 10 KiB
	MaxStatusFile       = 128 << 10 // the agent truncates larger files
)

// SubStatus is one named detail line of a report.
type SubStatus struct {
	Name    string
	Status  StatusType
	Code    int
	Message string
}

// Report is what the handler tells the agent about one operation.
type Report struct {
	// Operation is shown to users: "Install", "Enable", "Disable", "Uninstall", "Update".
	Operation string
	Status    StatusType
	Code      int
	Message   string
	SubStatus []SubStatus
}

type formattedMessage struct {
	Lang    string `json:"lang"`
	Message string `json:"message"`
}

type subStatusJSON struct {
	Name             string           `json:"name"`
	Status           StatusType       `json:"status"`
	Code             int              `json:"code"`
	FormattedMessage formattedMessage `json:"formattedMessage"`
}

type statusJSON struct {
	Version      int    `json:"version"`
	TimestampUTC string `json:"timestampUTC"`
	Status       struct {
		Name                     string           `json:"name"`
		Operation                string           `json:"operation"`
		Status                   StatusType       `json:"status"`
		Code                     int              `json:"code"`
		ConfigurationAppliedTime string           `json:"configurationAppliedTime"`
		FormattedMessage         formattedMessage `json:"formattedMessage"`
		SubStatus                []subStatusJSON  `json:"substatus,omitempty"`
	} `json:"status"`
}

// StatusWriter writes <Folder>/<seq>.status files.
type StatusWriter struct {
	Folder string
	// Name is the handler name reported in status.name.
	Name string
	Now  func() time.Time
}

// Encode renders a report as the agent's status document, applying the size
// limits: the message is cut to MaxMessage characters, substatus messages to
// MaxSubstatusMessage, and trailing substatus entries are dropped while the
// document exceeds MaxStatusFile.
func (w StatusWriter) Encode(r Report) ([]byte, error) {
	var doc statusJSON
	doc.Version = 1
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	ts := now().UTC().Format(time.RFC3339)
	doc.TimestampUTC = ts
	doc.Status.Name = w.Name
	doc.Status.Operation = r.Operation
	doc.Status.Status = r.Status
	doc.Status.Code = r.Code
	doc.Status.ConfigurationAppliedTime = ts
	doc.Status.FormattedMessage = formattedMessage{Lang: "en-US", Message: clip(r.Message, MaxMessage)}
	for _, s := range r.SubStatus {
		doc.Status.SubStatus = append(doc.Status.SubStatus, subStatusJSON{
			Name: clip(s.Name, 256), Status: s.Status, Code: s.Code,
			FormattedMessage: formattedMessage{Lang: "en-US", Message: clip(s.Message, MaxSubstatusMessage)},
		})
	}
	for {
		data, err := json.Marshal([]statusJSON{doc})
		if err != nil {
			return nil, fmt.Errorf("encode status: %w", err)
		}
		if len(data) <= MaxStatusFile || len(doc.Status.SubStatus) == 0 {
			return data, nil
		}
		doc.Status.SubStatus = doc.Status.SubStatus[:len(doc.Status.SubStatus)-1]
	}
}

// Write atomically replaces <Folder>/<seq>.status with the report.
func (w StatusWriter) Write(seq int, r Report) error {
	switch r.Status {
	case Transitioning, Success, Error, Warning:
	default:
		return fmt.Errorf("status %q is not one the agent accepts", r.Status)
	}
	data, err := w.Encode(r)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(w.Folder, 0o700); err != nil {
		return fmt.Errorf("status folder: %w", err)
	}
	return atomicfile.WriteFile(seqFile(w.Folder, seq, ".status"), data, 0o600)
}

// Read returns the status type and message of <Folder>/<seq>.status, for
// checks such as "was this sequence number already completed".
func (w StatusWriter) Read(seq int) (StatusType, string, error) {
	data, err := readCapped(seqFile(w.Folder, seq, ".status"), 4*MaxStatusFile)
	if err != nil {
		return "", "", err
	}
	var docs []statusJSON
	if err := json.Unmarshal(data, &docs); err != nil || len(docs) == 0 {
		return "", "", fmt.Errorf("status file for sequence %d is not a status document", seq)
	}
	return docs[0].Status.Status, docs[0].Status.FormattedMessage.Message, nil
}

// clip shortens s to at most n bytes without splitting a UTF-8 sequence,
// marking the cut with "…".
func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = string([]rune(s)) // replaces invalid bytes with U+FFFD
	}
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
