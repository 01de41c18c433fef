package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaHost is where the ARM and policy schemas are published; the tests
// read them from testdata/schemas (same paths below schemas/), never from
// the network (see testdata/schemas/README.md).
const schemaHost = "https://schema.management.azure.com/schemas/"

// The schemas the deployment examples are validated against.
const (
	templateSchema   = schemaHost + "2019-04-01/deploymentTemplate.json#"
	parametersSchema = schemaHost + "2019-04-01/deploymentParameters.json#"
	policyRuleSchema = schemaHost + "2020-10-01/policyDefinition.json#"
)

// offlineLoader serves schema URLs from testdata/schemas and refuses every
// other URL, so a schema that is not committed fails the test instead of
// being fetched.
type offlineLoader struct{}

func (offlineLoader) Load(url string) (any, error) {
	rel, ok := strings.CutPrefix(url, schemaHost)
	if !ok || strings.Contains(rel, "..") {
		return nil, fmt.Errorf("schema %s is not available offline (only %s… from testdata/schemas)", url, schemaHost)
	}
	f, err := os.Open(filepath.Join("testdata/schemas", filepath.FromSlash(rel)))
	if err != nil {
		return nil, fmt.Errorf("schema %s is not committed under testdata/schemas: %w", url, err)
	}
	defer f.Close()
	return jsonschema.UnmarshalJSON(f)
}

// compileSchemas compiles the template, parameters and policy-rule schemas.
func compileSchemas(t *testing.T) map[string]*jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	c.UseLoader(offlineLoader{})
	out := map[string]*jsonschema.Schema{}
	for _, url := range []string{templateSchema, parametersSchema, policyRuleSchema} {
		s, err := c.Compile(url)
		if err != nil {
			t.Fatalf("compile %s: %v", url, err)
		}
		out[url] = s
	}
	return out
}

// instance decodes JSON the way the validator wants it (json.Number).
func instance(t *testing.T, data []byte) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// policyParts returns a policy definition's rule and the template its
// deployment carries.
func policyParts(t *testing.T, doc any) (rule, template any) {
	t.Helper()
	props, _ := doc.(map[string]any)["properties"].(map[string]any)
	rule = props["policyRule"]
	details, _ := rule.(map[string]any)["then"].(map[string]any)["details"].(map[string]any)
	dep, _ := details["deployment"].(map[string]any)["properties"].(map[string]any)
	return rule, dep["template"]
}

// TestDeploymentsMatchSchemas validates the ARM template and its parameters
// file, and each policy definition's rule and the template it deploys,
// against the published JSON schemas (committed copies).
func TestDeploymentsMatchSchemas(t *testing.T) {
	schemas := compileSchemas(t)
	validate := func(t *testing.T, what, url string, v any) {
		t.Helper()
		if err := schemas[url].Validate(v); err != nil {
			t.Errorf("%s does not match %s:\n%v", what, url, err)
		}
	}
	for file, url := range map[string]string{
		"deploy/arm/azuredeploy.json":            templateSchema,
		"deploy/arm/azuredeploy.parameters.json": parametersSchema,
	} {
		t.Run(file, func(t *testing.T) {
			doc := instance(t, readFile(t, file))
			if got, _ := doc.(map[string]any)["$schema"].(string); got != url {
				t.Errorf("%s: $schema %q, want %q (the schema it is validated against)", file, got, url)
			}
			validate(t, file, url, doc)
		})
	}
	for _, file := range []string{"deploy/policy/deploy-aadsshlogin-vm.json", "deploy/policy/deploy-aadsshlogin-vmss.json"} {
		t.Run(file, func(t *testing.T) {
			rule, tmpl := policyParts(t, instance(t, readFile(t, file)))
			validate(t, file+" policyRule", policyRuleSchema, rule)
			if got, _ := tmpl.(map[string]any)["$schema"].(string); got != templateSchema {
				t.Errorf("%s: deployment template $schema %q, want %q", file, got, templateSchema)
			}
			validate(t, file+" deployment template", templateSchema, tmpl)
		})
	}
}

// TestSchemasCatchBrokenDeployments: the validation is not vacuous; each
// breakage of a real example fails it.
func TestSchemasCatchBrokenDeployments(t *testing.T) {
	schemas := compileSchemas(t)
	tests := []struct {
		name, file, schema string
		policy             bool // break the policy rule instead of the template
		breakIt            func(doc map[string]any)
	}{
		{"template without resources", "deploy/arm/azuredeploy.json", templateSchema, false, func(d map[string]any) { delete(d, "resources") }},
		{"template with a bad contentVersion", "deploy/arm/azuredeploy.json", templateSchema, false, func(d map[string]any) { d["contentVersion"] = "1.0" }},
		{"template with an unknown top-level key", "deploy/arm/azuredeploy.json", templateSchema, false, func(d map[string]any) { d["resource"] = d["resources"] }},
		{"template with a parameter of an unknown type", "deploy/arm/azuredeploy.json", templateSchema, false, func(d map[string]any) {
			d["parameters"].(map[string]any)["vmName"].(map[string]any)["type"] = "text"
		}},
		{"extension with another apiVersion than the schema's", "deploy/arm/azuredeploy.json", templateSchema, false, func(d map[string]any) {
			d["resources"].([]any)[0].(map[string]any)["apiVersion"] = "1999-01-01"
		}},
		{"extension without properties.publisher", "deploy/arm/azuredeploy.json", templateSchema, false, func(d map[string]any) {
			delete(d["resources"].([]any)[0].(map[string]any)["properties"].(map[string]any), "publisher")
		}},
		{"parameters file with a parameter without value", "deploy/arm/azuredeploy.parameters.json", parametersSchema, false, func(d map[string]any) {
			d["parameters"].(map[string]any)["vmName"] = map[string]any{"valu": "x"}
		}},
		{"policy with a misspelt existenceCondition", "deploy/policy/deploy-aadsshlogin-vm.json", policyRuleSchema, true, func(rule map[string]any) {
			details := rule["then"].(map[string]any)["details"].(map[string]any)
			details["existanceCondition"] = details["existenceCondition"]
			delete(details, "existenceCondition")
		}},
		{"policy with an unknown effect", "deploy/policy/deploy-aadsshlogin-vmss.json", policyRuleSchema, true, func(rule map[string]any) {
			rule["then"].(map[string]any)["effect"] = "deployIfMissing"
		}},
		{"policy condition with two operators", "deploy/policy/deploy-aadsshlogin-vm.json", policyRuleSchema, true, func(rule map[string]any) {
			c := rule["if"].(map[string]any)["allOf"].([]any)[0].(map[string]any)
			c["like"] = "Microsoft.Compute/*"
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := instance(t, readFile(t, tc.file)).(map[string]any)
			target := doc
			if tc.policy {
				rule, _ := policyParts(t, doc)
				target = rule.(map[string]any)
			}
			if err := schemas[tc.schema].Validate(target); err != nil {
				t.Fatalf("the unbroken %s already fails: %v", tc.file, err)
			}
			tc.breakIt(target)
			err := schemas[tc.schema].Validate(target)
			if err == nil {
				t.Fatalf("broken %s passes %s", tc.file, tc.schema)
			}
			t.Logf("rejected: %s", strings.TrimSpace(strings.SplitN(err.Error()+"\n\n", "\n", 3)[1]))
		})
	}
}

// TestSchemaFilesAreDocumented: every committed schema file is listed, with
// its source, in testdata/schemas/README.md.
func TestSchemaFilesAreDocumented(t *testing.T) {
	readme := string(readFile(t, "testdata/schemas/README.md"))
	err := filepath.WalkDir("testdata/schemas", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		rel, _ := filepath.Rel("testdata/schemas", path)
		if !strings.Contains(readme, "`"+filepath.ToSlash(rel)+"`") {
			t.Errorf("testdata/schemas/README.md does not list %s", rel)
		}
		var v any
		if err := json.Unmarshal(readFile(t, path), &v); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
