package agent

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

var fixed = func() time.Time { return time.Date(2026, 11, 29, 20, 0, 0, 0, time.UTC) }

func TestStatusWriterWritesAgentSchema(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "status")
	w := StatusWriter{Folder: dir, Name: "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux", Now: fixed}
	r := Report{Operation: "Enable", Status: Transitioning, Code: 22, Message: "no identity",
		SubStatus: []SubStatus{{Name: "sshd", Status: Warning, Message: "AllowGroups"}}}
	if err := w.Write(3, r); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "3.status"))
	if err != nil {
		t.Fatal(err)
	}
	var got any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := []any{map[string]any{
		"version": 1.0, "timestampUTC": "2026-11-29T20:00:00Z",
		"status": map[string]any{
			"name": "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux", "operation": "Enable",
			"status": "transitioning", "code": 22.0, "configurationAppliedTime": "2026-11-29T20:00:00Z",
			"formattedMessage": map[string]any{"lang": "en-US", "message": "no identity"},
			"substatus": []any{map[string]any{"name": "sshd", "status": "warning", "code": 0.0,
				"formattedMessage": map[string]any{"lang": "en-US", "message": "AllowGroups"}}},
		},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	st, msg, err := w.Read(3)
	if err != nil || st != Transitioning || msg != "no identity" {
		t.Errorf("Read = %q %q %v", st, msg, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("status folder holds %d entries, want only 3.status", len(entries))
	}
}

func TestStatusLimits(t *testing.T) {
	w := StatusWriter{Folder: t.TempDir(), Now: fixed}
	long := strings.Repeat("é", 2000) // 4000 bytes
	var subs []SubStatus
	for i := 0; i < 100; i++ {
		subs = append(subs, SubStatus{Name: "n", Status: Warning, Message: strings.Repeat("x", 8000)})
	}
	data, err := w.Encode(Report{Operation: "Enable", Status: Error, Message: long + "\xff", SubStatus: subs})
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > MaxStatusFile {
		t.Fatalf("status is %d bytes, limit %d", len(data), MaxStatusFile)
	}
	var docs []statusJSON
	if err := json.Unmarshal(data, &docs); err != nil {
		t.Fatal(err)
	}
	msg := docs[0].Status.FormattedMessage.Message
	if len(msg) > MaxMessage || !utf8.ValidString(msg) || !strings.HasSuffix(msg, "…") {
		t.Errorf("message not clipped cleanly: %d bytes, valid=%v", len(msg), utf8.ValidString(msg))
	}
	n := len(docs[0].Status.SubStatus)
	if n == 0 || n == 100 {
		t.Errorf("kept %d substatus entries, want some dropped and some kept", n)
	}
	for _, s := range docs[0].Status.SubStatus {
		if len(s.FormattedMessage.Message) > MaxSubstatusMessage {
			t.Errorf("substatus message %d bytes", len(s.FormattedMessage.Message))
		}
	}
}

func TestStatusRejectsUnknownType(t *testing.T) {
	w := StatusWriter{Folder: t.TempDir()}
	if err := w.Write(0, Report{Status: "done"}); err == nil {
		t.Fatal("accepted status value the agent rejects")
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 8, "abcde…"},
		{"ééé", 5, "é…"},
		{"ééé", 4, "…"},
		{"aéé", 4, "a…"},
		{"aéé", 5, "aéé"},
	}
	for _, tc := range tests {
		if got := clip(tc.in, tc.n); got != tc.want {
			t.Errorf("clip(%q,%d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestEvents(t *testing.T) {
	feature := func(v string) func(string) string {
		return func(k string) string {
			if k == SupportedFeaturesEnv {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		v    string
		want bool
	}{
		{`[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]`, true},
		{`[{"Key": "Other", "Value": "1.0"}]`, false},
		{`not json`, false},
		{``, false},
	} {
		if got := TelemetryEnabled(feature(tc.v)); got != tc.want {
			t.Errorf("TelemetryEnabled(%q) = %v", tc.v, got)
		}
	}

	dir := t.TempDir()
	w := EventWriter{Folder: dir, Enabled: true, Version: "1.0.0.1", OperationID: "op", PID: 42, Now: fixed}
	if err := w.Write(LevelInformational, "Enable", strings.Repeat("m", 10000)); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(LevelError, "Enable", "second"); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(LevelError, "Enable", ""); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("%d event files, want 2", len(entries))
	}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".json")
		if strings.Trim(name, "0123456789") != "" {
			t.Errorf("event file name %q is not numeric", e.Name())
		}
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		var ev map[string]string
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"Version", "Timestamp", "TaskName", "EventLevel", "Message", "EventPid", "EventTid", "OperationId"} {
			if ev[k] == "" {
				t.Errorf("event lacks %s", k)
			}
		}
		if len(ev["Message"]) > maxEventMessage {
			t.Errorf("message %d chars", len(ev["Message"]))
		}
	}
	off := EventWriter{Folder: dir}
	if err := off.Write(LevelError, "x", "y"); err != nil {
		t.Fatal(err)
	}
	if entries2, _ := os.ReadDir(dir); len(entries2) != 2 {
		t.Error("disabled writer wrote an event")
	}
}
