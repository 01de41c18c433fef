package agentsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Verb is one of the five lifecycle commands of a handler manifest.
type Verb string

// The lifecycle verbs, named as the agent's cmd_name.
const (
	VerbInstall   Verb = "install"
	VerbUninstall Verb = "uninstall"
	VerbUpdate    Verb = "update"
	VerbEnable    Verb = "enable"
	VerbDisable   Verb = "disable"
)

// manifestKeys maps verbs to their handlerManifest keys.
var manifestKeys = map[Verb]string{
	VerbInstall:   "installCommand",
	VerbUninstall: "uninstallCommand",
	VerbUpdate:    "updateCommand",
	VerbEnable:    "enableCommand",
	VerbDisable:   "disableCommand",
}

// Manifest is HandlerManifest.json as the agent reads it: only element [0]
// and, of that, handlerManifest (plus the ignored siblings).
type Manifest struct {
	// commands holds the raw JSON of each command key that is present; the
	// agent only fails (KeyError) when the missing command is needed.
	commands map[Verb]json.RawMessage
	// ReportHeartbeat, ContinueOnUpdateFailure and SupportsMultipleExtensions
	// follow the agent's boolean rule: JSON true, or the string "true" in any
	// case; anything else is false.
	ReportHeartbeat            bool
	ContinueOnUpdateFailure    bool
	SupportsMultipleExtensions bool
	// UpdateWithInstall is true when updateMode is absent/null or equals
	// "UpdateWithInstall" case-insensitively.
	UpdateWithInstall bool
	// NonBoolean lists the boolean keys holding a non-boolean value, which
	// the agent reports in telemetry ("has a non-boolean value").
	NonBoolean []string
}

// ErrMalformedManifest is wrapped by every manifest parse error.
var ErrMalformedManifest = errors.New("malformed HandlerManifest.json")

// StripBOM removes a leading byte-order mark the way the agent does
// (textutil.remove_bom): the first three bytes are dropped when the content
// is longer than two bytes, not blank, and each of them is above 128.
func StripBOM(b []byte) []byte {
	if len(b) > 2 && len(bytes.TrimSpace(b)) > 0 && b[0] > 128 && b[1] > 128 && b[2] > 128 {
		return b[3:]
	}
	return b
}

// ParseManifest parses HandlerManifest.json content (BOM already stripped)
// with the agent's rules. Errors wrap ErrMalformedManifest.
func ParseManifest(data []byte) (Manifest, error) {
	var top []json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return Manifest{}, fmt.Errorf("%w: the top level must be a JSON array: %v", ErrMalformedManifest, err)
	}
	if len(top) == 0 {
		return Manifest{}, fmt.Errorf("%w: the array is empty; the agent reads element [0]", ErrMalformedManifest)
	}
	var first map[string]json.RawMessage
	if err := json.Unmarshal(top[0], &first); err != nil || first == nil {
		return Manifest{}, fmt.Errorf("%w: element [0] must be an object", ErrMalformedManifest)
	}
	hmRaw, ok := first["handlerManifest"]
	if !ok || isNull(hmRaw) {
		return Manifest{}, fmt.Errorf("%w: [0].handlerManifest is missing or null", ErrMalformedManifest)
	}
	var hm map[string]json.RawMessage
	if err := json.Unmarshal(hmRaw, &hm); err != nil {
		return Manifest{}, fmt.Errorf("%w: [0].handlerManifest must be an object", ErrMalformedManifest)
	}
	m := Manifest{commands: map[Verb]json.RawMessage{}}
	for verb, key := range manifestKeys {
		if raw, ok := hm[key]; ok {
			m.commands[verb] = raw
		}
	}
	boolKeys := []struct {
		key string
		dst *bool
	}{
		{"reportHeartbeat", &m.ReportHeartbeat},
		{"continueOnUpdateFailure", &m.ContinueOnUpdateFailure},
		{"supportsMultipleExtensions", &m.SupportsMultipleExtensions},
	}
	for _, bk := range boolKeys {
		raw, ok := hm[bk.key]
		if !ok || isNull(raw) {
			continue
		}
		v, isBool := parseAgentBool(raw)
		*bk.dst = v
		if !isBool {
			m.NonBoolean = append(m.NonBoolean, bk.key)
		}
	}
	m.UpdateWithInstall = true
	if raw, ok := hm["updateMode"]; ok && !isNull(raw) {
		var mode string
		if err := json.Unmarshal(raw, &mode); err != nil {
			// The agent calls .lower() on it and fails.
			return Manifest{}, fmt.Errorf("%w: [0].handlerManifest.updateMode must be a string", ErrMalformedManifest)
		}
		m.UpdateWithInstall = strings.ToLower(mode) == "updatewithinstall"
	}
	return m, nil
}

// Command returns the command line for verb, or an error when the manifest
// lacks it or it is not a string (the agent fails the operation then).
func (m Manifest) Command(v Verb) (string, error) {
	raw, ok := m.commands[v]
	if !ok {
		return "", fmt.Errorf("%w: handlerManifest has no %s", ErrMalformedManifest, manifestKeys[v])
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: handlerManifest.%s is not a string", ErrMalformedManifest, manifestKeys[v])
	}
	return s, nil
}

// parseAgentBool applies the agent's _parse_boolean_value: a JSON boolean is
// taken as is; the string "true" (any case) is true; everything else is false.
// isBool reports whether the value was a real JSON boolean.
func parseAgentBool(raw json.RawMessage) (value, isBool bool) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return strings.EqualFold(s, "true"), false
	}
	return false, false
}

func isNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}
