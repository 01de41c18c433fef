package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is where VERSION and HandlerManifest.json live, relative to this
// package's folder (go test runs in the package folder).
const repoRoot = ".."

// readFile reads a file relative to the package folder.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// repoVersion is the version in the repository's VERSION file.
func repoVersion(t *testing.T) Version {
	t.Helper()
	raw := readFile(t, filepath.Join(repoRoot, "VERSION"))
	v, err := ParseVersion(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("VERSION: %v", err)
	}
	return v
}

// decodeStrict decodes JSON into v, failing on unknown keys (a misspelt
// "existanceCondition" must not pass silently) and on trailing data.
func decodeStrict(t *testing.T, path string, data []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if dec.More() {
		t.Fatalf("%s: trailing data after the JSON document", path)
	}
}

// ARM template shapes: every key the templates here use, nothing more.
type armTemplate struct {
	Schema         string                     `json:"$schema"`
	ContentVersion string                     `json:"contentVersion"`
	Metadata       map[string]any             `json:"metadata"`
	Parameters     map[string]armParameter    `json:"parameters"`
	Variables      map[string]json.RawMessage `json:"variables"`
	Resources      []armResource              `json:"resources"`
	Outputs        map[string]json.RawMessage `json:"outputs"`
}

type armParameter struct {
	Type          string          `json:"type"`
	DefaultValue  json.RawMessage `json:"defaultValue"`
	AllowedValues []string        `json:"allowedValues"`
	Metadata      map[string]any  `json:"metadata"`
}

type armResource struct {
	Type       string        `json:"type"`
	APIVersion string        `json:"apiVersion"`
	Name       string        `json:"name"`
	Location   string        `json:"location"`
	Properties extensionProp `json:"properties"`
}

type extensionProp struct {
	Publisher               string          `json:"publisher"`
	Type                    string          `json:"type"`
	TypeHandlerVersion      string          `json:"typeHandlerVersion"`
	AutoUpgradeMinorVersion *bool           `json:"autoUpgradeMinorVersion"`
	Settings                json.RawMessage `json:"settings"`
}

// extensionFacts is what every deployment artefact must agree on.
type extensionFacts struct {
	Publisher, Type, TypeHandlerVersion string
	AutoUpgradeMinorVersion             bool
}

func (p extensionProp) facts() extensionFacts {
	return extensionFacts{
		Publisher: p.Publisher, Type: p.Type, TypeHandlerVersion: p.TypeHandlerVersion,
		AutoUpgradeMinorVersion: p.AutoUpgradeMinorVersion != nil && *p.AutoUpgradeMinorVersion,
	}
}

// Azure Policy definition shape.
type policyDefinition struct {
	Properties struct {
		DisplayName string                  `json:"displayName"`
		PolicyType  string                  `json:"policyType"`
		Mode        string                  `json:"mode"`
		Description string                  `json:"description"`
		Metadata    map[string]any          `json:"metadata"`
		Parameters  map[string]armParameter `json:"parameters"`
		PolicyRule  struct {
			If   policyCondition `json:"if"`
			Then struct {
				Effect  string `json:"effect"`
				Details struct {
					Type               string          `json:"type"`
					EvaluationDelay    string          `json:"evaluationDelay"`
					RoleDefinitionIDs  []string        `json:"roleDefinitionIds"`
					ExistenceCondition policyCondition `json:"existenceCondition"`
					Deployment         struct {
						Properties struct {
							Mode       string                            `json:"mode"`
							Template   armTemplate                       `json:"template"`
							Parameters map[string]struct{ Value string } `json:"parameters"`
						} `json:"properties"`
					} `json:"deployment"`
				} `json:"details"`
			} `json:"then"`
		} `json:"policyRule"`
	} `json:"properties"`
}

type policyCondition struct {
	AllOf []policyLeaf `json:"allOf"`
}

type policyLeaf struct {
	Field    string `json:"field,omitempty"`
	Equals   string `json:"equals,omitempty"`
	Contains string `json:"contains,omitempty"`
	// AnyOf is the supported-image filter (TestPoliciesTargetSupportedImagesOnly
	// evaluates it).
	AnyOf []any `json:"anyOf,omitempty"`
}

var paramRef = regexp.MustCompile(`parameters\('([^']*)'\)`)

// parameterRefs lists the names used in parameters('...') expressions in
// every string inside v, sorted and without duplicates.
func parameterRefs(v any) []string {
	var refs []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			for _, m := range paramRef.FindAllStringSubmatch(x, -1) {
				refs = append(refs, m[1])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	slices.Sort(refs)
	return slices.Compact(refs)
}

// generic decodes JSON into untyped values.
func generic(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// shellCommands returns the az command lines of a Markdown document's code
// blocks, with backslash continuations joined and comments dropped, each
// split into whitespace-separated words.
func shellCommands(md string) [][]string {
	var cmds [][]string
	inCode := false
	var pending string
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "```") {
			inCode = !inCode
			pending = ""
			continue
		}
		if !inCode {
			continue
		}
		if i := strings.Index(trimmed, " #"); i >= 0 && !strings.Contains(trimmed[:i], "'") {
			trimmed = strings.TrimSpace(trimmed[:i])
		}
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			pending += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		full := pending + trimmed
		pending = ""
		// A command may follow an assignment: x=$(az ...).
		if i := strings.Index(full, "az "); i >= 0 {
			words := strings.Fields(full[i:])
			cmds = append(cmds, words)
		}
	}
	return cmds
}

// flagValues returns the values of every occurrence of the named flags.
func flagValues(words []string, names ...string) []string {
	var vals []string
	for i, w := range words {
		for _, n := range names {
			if w == n && i+1 < len(words) {
				vals = append(vals, words[i+1])
			}
			if v, ok := strings.CutPrefix(w, n+"="); ok {
				vals = append(vals, v)
			}
		}
	}
	return vals
}

// hasPrefixWords reports whether words starts with prefix.
func hasPrefixWords(words []string, prefix ...string) bool {
	return len(words) >= len(prefix) && slices.Equal(words[:len(prefix)], prefix)
}
