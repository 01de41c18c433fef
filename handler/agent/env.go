package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// EnvironmentFile is the name the agent gives HandlerEnvironment.json.
const EnvironmentFile = "HandlerEnvironment.json"

// maxEnvironmentSize bounds what we read; the agent writes well under 2 KiB.
const maxEnvironmentSize = 64 << 10

// Environment is the content of HandlerEnvironment.json.
type Environment struct {
	Name          string
	Version       float64
	LogFolder     string
	ConfigFolder  string
	StatusFolder  string
	HeartbeatFile string
	// EventsFolder is empty when the agent did not provide one.
	EventsFolder string
	// BaseDir is the folder HandlerEnvironment.json was found in (the
	// versioned extension folder).
	BaseDir string
}

type rawEnvironment struct {
	Name               string          `json:"name"`
	Version            json.RawMessage `json:"version"`
	HandlerEnvironment *struct {
		LogFolder          string `json:"logFolder"`
		ConfigFolder       string `json:"configFolder"`
		StatusFolder       string `json:"statusFolder"`
		HeartbeatFile      string `json:"heartbeatFile"`
		EventsFolder       string `json:"eventsFolder"`
		EventsFolder2      string `json:"eventsFolder_preview"`
		DeploymentID       string `json:"deploymentid"`
		RoleName           string `json:"rolename"`
		Instance           string `json:"instance"`
		HostResolverAddres string `json:"hostResolverAddress"`
	} `json:"handlerEnvironment"`
}

// ErrNoEnvironment is returned when no HandlerEnvironment.json can be found.
var ErrNoEnvironment = errors.New("HandlerEnvironment.json not found")

// ParseEnvironment parses HandlerEnvironment.json content. The agent writes a
// JSON array of one element; a bare object is accepted too. The folders must
// be absolute paths.
func ParseEnvironment(data []byte) (Environment, error) {
	data = trimBOM(data)
	var items []rawEnvironment
	if err := json.Unmarshal(data, &items); err != nil {
		var one rawEnvironment
		if err2 := json.Unmarshal(data, &one); err2 != nil {
			return Environment{}, fmt.Errorf("HandlerEnvironment.json is not valid JSON: %w", err)
		}
		items = []rawEnvironment{one}
	}
	if len(items) != 1 {
		return Environment{}, fmt.Errorf("HandlerEnvironment.json has %d elements, want 1", len(items))
	}
	r := items[0]
	if r.HandlerEnvironment == nil {
		return Environment{}, errors.New("HandlerEnvironment.json has no handlerEnvironment object")
	}
	e := Environment{
		Name:          r.Name,
		LogFolder:     r.HandlerEnvironment.LogFolder,
		ConfigFolder:  r.HandlerEnvironment.ConfigFolder,
		StatusFolder:  r.HandlerEnvironment.StatusFolder,
		HeartbeatFile: r.HandlerEnvironment.HeartbeatFile,
		EventsFolder:  r.HandlerEnvironment.EventsFolder,
	}
	if e.EventsFolder == "" {
		e.EventsFolder = r.HandlerEnvironment.EventsFolder2
	}
	if len(r.Version) > 0 && string(r.Version) != "null" {
		// The agent writes the number 1.0; old tooling wrote "1.0".
		s := strings.Trim(string(r.Version), `"`)
		if _, err := fmt.Sscanf(s, "%g", &e.Version); err != nil {
			return Environment{}, fmt.Errorf("HandlerEnvironment.json version %s is not a number", r.Version)
		}
	}
	for _, f := range []struct{ key, val string }{
		{"logFolder", e.LogFolder}, {"configFolder", e.ConfigFolder}, {"statusFolder", e.StatusFolder},
	} {
		if f.val == "" {
			return Environment{}, fmt.Errorf("HandlerEnvironment.json has no %s", f.key)
		}
		if err := checkPath(f.val); err != nil {
			return Environment{}, fmt.Errorf("HandlerEnvironment.json %s: %w", f.key, err)
		}
	}
	for _, f := range []struct{ key, val string }{{"heartbeatFile", e.HeartbeatFile}, {"eventsFolder", e.EventsFolder}} {
		if f.val != "" {
			if err := checkPath(f.val); err != nil {
				return Environment{}, fmt.Errorf("HandlerEnvironment.json %s: %w", f.key, err)
			}
		}
	}
	return e, nil
}

func checkPath(p string) error {
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	if strings.ContainsAny(p, "\x00\n\r") {
		return fmt.Errorf("%q contains control characters", p)
	}
	return nil
}

func trimBOM(b []byte) []byte {
	return []byte(strings.TrimPrefix(string(b), "\ufeff"))
}

// LoadEnvironment finds and parses HandlerEnvironment.json: first in the
// folder named by AZURE_GUEST_AGENT_EXTENSION_PATH (getenv), else next to the
// executable or one or two folders above it (bin/ and scripts/ layouts).
func LoadEnvironment(getenv func(string) string, executable string) (Environment, error) {
	var dirs []string
	if p := getenv("AZURE_GUEST_AGENT_EXTENSION_PATH"); p != "" {
		dirs = append(dirs, p)
	}
	if executable != "" {
		d := filepath.Dir(executable)
		dirs = append(dirs, d, filepath.Dir(d), filepath.Dir(filepath.Dir(d)))
	}
	for _, d := range dirs {
		p := filepath.Join(d, EnvironmentFile)
		data, err := readCapped(p, maxEnvironmentSize)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Environment{}, fmt.Errorf("read %s: %w", p, err)
		}
		env, err := ParseEnvironment(data)
		if err != nil {
			return Environment{}, fmt.Errorf("%s: %w", p, err)
		}
		env.BaseDir = d
		return env, nil
	}
	return Environment{}, fmt.Errorf("%w (looked in %s)", ErrNoEnvironment, strings.Join(dirs, ", "))
}
