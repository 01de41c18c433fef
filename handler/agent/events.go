package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/Azure/aadsshlogin-extension-linux/handler/atomicfile"
)

// SupportedFeaturesEnv advertises the agent's features as JSON.
const SupportedFeaturesEnv = "AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES"

// Event levels the agent understands.
const (
	LevelError         = "Error"
	LevelWarning       = "Warning"
	LevelInformational = "Informational"
)

// Limits of the agent's telemetry pipeline.
const (
	maxEventMessage = 3072
	maxEventTotal   = 6144
	// maxPendingEvents stops us from flooding a folder the agent is not
	// collecting (it takes at most 360 events per 5 minutes).
	maxPendingEvents = 300
)

// TelemetryEnabled reports whether the agent advertises the
// ExtensionTelemetryPipeline feature; only then are event files read.
func TelemetryEnabled(getenv func(string) string) bool {
	v := getenv(SupportedFeaturesEnv)
	if v == "" {
		return false
	}
	var feats []struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	}
	if json.Unmarshal([]byte(v), &feats) != nil {
		return false
	}
	for _, f := range feats {
		if f.Key == "ExtensionTelemetryPipeline" {
			return true
		}
	}
	return false
}

// EventWriter writes telemetry event files into the agent's events folder.
// A zero Folder or Enabled=false makes Write a no-op.
type EventWriter struct {
	Folder      string
	Enabled     bool
	Version     string
	OperationID string
	PID         int
	Now         func() time.Time
}

type eventJSON struct {
	Version     string `json:"Version"`
	Timestamp   string `json:"Timestamp"`
	TaskName    string `json:"TaskName"`
	EventLevel  string `json:"EventLevel"`
	Message     string `json:"Message"`
	EventPid    string `json:"EventPid"`
	EventTid    string `json:"EventTid"`
	OperationID string `json:"OperationId"`
}

// Write records one event. Messages are cut to the agent's limits; empty
// messages are not written (the agent would drop them).
func (w EventWriter) Write(level, task, message string) error {
	if !w.Enabled || w.Folder == "" || message == "" {
		return nil
	}
	if n, err := countEvents(w.Folder); err != nil {
		return err
	} else if n >= maxPendingEvents {
		return nil
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	t := now()
	ev := eventJSON{
		Version: clip(w.Version, 64), Timestamp: t.UTC().Format(time.RFC3339Nano), TaskName: clip(task, 128),
		EventLevel: level, EventPid: strconv.Itoa(w.PID), EventTid: strconv.Itoa(w.PID), OperationID: w.OperationID,
	}
	room := maxEventTotal - len(ev.Version) - len(ev.Timestamp) - len(ev.TaskName) - len(ev.EventLevel) -
		len(ev.EventPid) - len(ev.EventTid) - len(ev.OperationID)
	ev.Message = clip(message, min(maxEventMessage, room))
	data, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	// Unique, numeric, increasing file names: nanoseconds, bumped on collision.
	for n := t.UnixNano(); ; n++ {
		path := filepath.Join(w.Folder, strconv.FormatInt(n, 10)+".json")
		if _, err := os.Lstat(path); os.IsNotExist(err) {
			return atomicfile.WriteFile(path, data, 0o600)
		}
	}
}

func countEvents(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("events folder: %w", err)
	}
	n := 0
	for _, e := range entries {
		if filepath.Ext(e.Name()) == ".json" {
			n++
		}
	}
	return n, nil
}
