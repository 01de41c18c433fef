package manifest

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// wantFacts is what every deployment must say, with typeHandlerVersion taken
// from the repository's VERSION file.
func wantFacts(t *testing.T) extensionFacts {
	return extensionFacts{Publisher: Publisher, Type: Type, TypeHandlerVersion: repoVersion(t).TypeHandlerVersion(), AutoUpgradeMinorVersion: true}
}

func TestVersionFileMatchesDeployments(t *testing.T) {
	// The deployment examples hard-code "1.0"; a major or minor bump in
	// VERSION must come with updated examples (TestDeployments catches the
	// mismatch). This pins the expectation so the failure reads clearly.
	if got := repoVersion(t).TypeHandlerVersion(); got != "1.0" {
		t.Errorf("VERSION major.minor is %s; update typeHandlerVersion in manifest/deploy (ARM, Bicep, Terraform, policy) and this test", got)
	}
}

func TestEveryJSONFileParses(t *testing.T) {
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") && path != "." {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".json") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"deploy/arm/azuredeploy.json",
		"deploy/arm/azuredeploy.parameters.json",
		"deploy/policy/deploy-aadsshlogin-vm.json",
		"deploy/policy/deploy-aadsshlogin-vmss.json",
	}
	for _, w := range want {
		if !slices.Contains(files, w) {
			t.Errorf("expected JSON file %s not found (found %v)", w, files)
		}
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			var v any
			if err := json.Unmarshal(readFile(t, f), &v); err != nil {
				t.Fatalf("%s is not valid JSON: %v", f, err)
			}
			if _, ok := v.(map[string]any); !ok {
				t.Errorf("%s: top level is %T, want an object", f, v)
			}
		})
	}
}

func TestARMTemplate(t *testing.T) {
	const path = "deploy/arm/azuredeploy.json"
	raw := readFile(t, path)
	var tmpl armTemplate
	decodeStrict(t, path, raw, &tmpl)

	var exts []extensionFacts
	for _, r := range tmpl.Resources {
		if r.Type == "Microsoft.Compute/virtualMachines/extensions" {
			exts = append(exts, r.Properties.facts())
		}
	}
	if diff := cmp.Diff([]extensionFacts{wantFacts(t)}, exts); diff != "" {
		t.Errorf("%s extension resources (-want +got):\n%s", path, diff)
	}

	// Every parameters('x') refers to a declared parameter, and every
	// declared parameter is used.
	declared := sortedKeys(tmpl.Parameters)
	if diff := cmp.Diff(declared, parameterRefs(generic(t, raw))); diff != "" {
		t.Errorf("%s: parameters declared vs referenced (-declared +referenced):\n%s", path, diff)
	}

	// The parameters file sets only declared parameters and every one
	// without a default.
	const ppath = "deploy/arm/azuredeploy.parameters.json"
	var pf struct {
		Schema         string `json:"$schema"`
		ContentVersion string `json:"contentVersion"`
		Parameters     map[string]struct {
			Value any `json:"value"`
		} `json:"parameters"`
	}
	decodeStrict(t, ppath, readFile(t, ppath), &pf)
	for name := range pf.Parameters {
		if _, ok := tmpl.Parameters[name]; !ok {
			t.Errorf("%s sets %q, which %s does not declare", ppath, name, path)
		}
	}
	for name, p := range tmpl.Parameters {
		if p.DefaultValue == nil {
			if _, ok := pf.Parameters[name]; !ok {
				t.Errorf("%s lacks required parameter %q", ppath, name)
			}
		}
	}

	// Mirror settings: the optional public settings have the documented shape.
	var vars struct {
		MirrorSettings struct {
			Mirror struct {
				URL       string `json:"url"`
				PublicKey string `json:"publicKey"`
			} `json:"mirror"`
		} `json:"mirrorSettings"`
	}
	varsRaw, err := json.Marshal(tmpl.Variables)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(varsRaw, &vars); err != nil {
		t.Fatal(err)
	}
	if vars.MirrorSettings.Mirror.URL != "[parameters('mirrorUrl')]" || vars.MirrorSettings.Mirror.PublicKey != "[parameters('mirrorPublicKey')]" {
		t.Errorf("%s: mirrorSettings = %+v, want {mirror: {url, publicKey}} from the mirror parameters", path, vars.MirrorSettings)
	}
}

// assignedValues returns every quoted value assigned to key in src, for
// Bicep (key: 'v') or HCL (key = "v").
func assignedValues(src, key string) []string {
	re := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(key) + `\s*[:=]\s*(?:'([^']*)'|"([^"]*)"|(\w+))\s*$`)
	var vals []string
	for _, m := range re.FindAllStringSubmatch(src, -1) {
		vals = append(vals, m[1]+m[2]+m[3])
	}
	return vals
}

// checkAssigned checks that the deployment file at path (its text src)
// assigns key exactly once, the value want.
func checkAssigned(t *testing.T, path, src, key, want string) {
	t.Helper()
	if diff := cmp.Diff([]string{want}, assignedValues(src, key)); diff != "" {
		t.Errorf("%s: values of %s (-want +got):\n%s", path, key, diff)
	}
}

// factKeys are the names under which a deployment file assigns the
// extension's facts (Bicep and Terraform spell them differently).
type factKeys struct{ publisher, typ, typeHandlerVersion, autoUpgradeMinorVersion string }

// checkFacts checks that the deployment file at path (its text src)
// assigns each of wantFacts once, under the file's names for them.
func checkFacts(t *testing.T, path, src string, keys factKeys) {
	t.Helper()
	want := wantFacts(t)
	checkAssigned(t, path, src, keys.publisher, want.Publisher)
	checkAssigned(t, path, src, keys.typ, want.Type)
	checkAssigned(t, path, src, keys.typeHandlerVersion, want.TypeHandlerVersion)
	checkAssigned(t, path, src, keys.autoUpgradeMinorVersion, strconv.FormatBool(want.AutoUpgradeMinorVersion))
}

func TestBicep(t *testing.T) {
	const path = "deploy/bicep/main.bicep"
	src := string(readFile(t, path))
	checkFacts(t, path, src, factKeys{"publisher", "type", "typeHandlerVersion", "autoUpgradeMinorVersion"})
	if !strings.Contains(src, "'Microsoft.Compute/virtualMachines/extensions@") {
		t.Errorf("%s does not declare a Microsoft.Compute/virtualMachines/extensions resource", path)
	}
	// Same parameters as the ARM template ("same content").
	var tmpl armTemplate
	decodeStrict(t, "deploy/arm/azuredeploy.json", readFile(t, "deploy/arm/azuredeploy.json"), &tmpl)
	var params []string
	for _, m := range regexp.MustCompile(`(?m)^param (\w+) `).FindAllStringSubmatch(src, -1) {
		params = append(params, m[1])
	}
	slices.Sort(params)
	if diff := cmp.Diff(sortedKeys(tmpl.Parameters), params); diff != "" {
		t.Errorf("%s parameters differ from the ARM template's (-arm +bicep):\n%s", path, diff)
	}
	for _, k := range []string{"mirror:", "url: mirrorUrl", "publicKey: mirrorPublicKey"} {
		if !strings.Contains(src, k) {
			t.Errorf("%s: mirror settings lack %q", path, k)
		}
	}
}

func TestTerraform(t *testing.T) {
	const path = "deploy/terraform/main.tf"
	src := string(readFile(t, path))
	checkAssigned(t, path, src, "name", wantFacts(t).Type)
	checkFacts(t, path, src, factKeys{"publisher", "type", "type_handler_version", "auto_upgrade_minor_version"})
	if n := strings.Count(src, `resource "azurerm_virtual_machine_extension"`); n != 1 {
		t.Errorf("%s declares %d azurerm_virtual_machine_extension resources, want 1", path, n)
	}
	// Every var.x used is declared in variables.tf, and every declared one is used.
	vars := string(readFile(t, "deploy/terraform/variables.tf"))
	var declared, used []string
	for _, m := range regexp.MustCompile(`(?m)^variable "(\w+)"`).FindAllStringSubmatch(vars, -1) {
		declared = append(declared, m[1])
	}
	for _, m := range regexp.MustCompile(`\bvar\.(\w+)`).FindAllStringSubmatch(src, -1) {
		used = append(used, m[1])
	}
	slices.Sort(declared)
	slices.Sort(used)
	if diff := cmp.Diff(declared, slices.Compact(used)); diff != "" {
		t.Errorf("terraform variables declared vs used (-declared +used):\n%s", diff)
	}
}

func TestPolicies(t *testing.T) {
	const vmContributor = "/providers/Microsoft.Authorization/roleDefinitions/9980e02c-c2be-4d73-94e8-173b1dc7cf3c"
	tests := []struct {
		file, resourceType, osTypeField, nameParam string
	}{
		{"deploy/policy/deploy-aadsshlogin-vm.json", "Microsoft.Compute/virtualMachines", "Microsoft.Compute/virtualMachines/storageProfile.osDisk.osType", "vmName"},
		{"deploy/policy/deploy-aadsshlogin-vmss.json", "Microsoft.Compute/virtualMachineScaleSets", "Microsoft.Compute/VirtualMachineScaleSets/virtualMachineProfile.storageProfile.osDisk.osType", "vmssName"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			raw := readFile(t, tt.file)
			var def policyDefinition
			decodeStrict(t, tt.file, raw, &def)
			p := def.Properties
			ext := tt.resourceType + "/extensions"

			wantIf := []policyLeaf{
				{Field: "type", Equals: tt.resourceType},
				{Field: tt.osTypeField, Equals: "Linux"},
				{Field: "identity.type", Contains: "SystemAssigned"},
			}
			var leaves []policyLeaf
			filters := 0
			for _, c := range p.PolicyRule.If.AllOf {
				if len(c.AnyOf) > 0 {
					filters++
					continue
				}
				leaves = append(leaves, c)
			}
			if diff := cmp.Diff(wantIf, leaves); diff != "" {
				t.Errorf("if (-want +got):\n%s", diff)
			}
			if filters != 1 {
				t.Errorf("if has %d anyOf image filters, want 1", filters)
			}
			wantExists := []policyLeaf{
				{Field: ext + "/type", Equals: Type},
				{Field: ext + "/publisher", Equals: Publisher},
				{Field: ext + "/provisioningState", Equals: "Succeeded"},
			}
			d := p.PolicyRule.Then.Details
			if diff := cmp.Diff(wantExists, d.ExistenceCondition.AllOf); diff != "" {
				t.Errorf("existenceCondition (-want +got):\n%s", diff)
			}
			type detailFacts struct {
				Mode, Effect, Type, EvaluationDelay, DeploymentMode string
				Roles                                               []string
				EffectValues                                        []string
				EffectDefault                                       string
			}
			var effectDefault string
			if err := json.Unmarshal(p.Parameters["effect"].DefaultValue, &effectDefault); err != nil {
				t.Errorf("effect defaultValue: %v", err)
			}
			got := detailFacts{
				Mode: p.Mode, Effect: p.PolicyRule.Then.Effect, Type: d.Type, EvaluationDelay: d.EvaluationDelay,
				DeploymentMode: d.Deployment.Properties.Mode, Roles: d.RoleDefinitionIDs,
				EffectValues: p.Parameters["effect"].AllowedValues, EffectDefault: effectDefault,
			}
			want := detailFacts{
				Mode: "Indexed", Effect: "[parameters('effect')]", Type: ext, EvaluationDelay: "AfterProvisioning",
				DeploymentMode: "Incremental", Roles: []string{vmContributor},
				EffectValues: []string{"DeployIfNotExists", "Disabled"}, EffectDefault: "DeployIfNotExists",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("policy details (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"additionalImageIds", "effect"}, sortedKeys(p.Parameters)); diff != "" {
				t.Errorf("policy parameters (-want +got):\n%s", diff)
			}

			// The deployed template installs the same extension as everything else.
			tmpl := d.Deployment.Properties.Template
			var exts []extensionFacts
			for _, r := range tmpl.Resources {
				if r.Type != ext {
					t.Errorf("deployment template has a %s resource, want only %s", r.Type, ext)
					continue
				}
				// Empty settings: the extension needs none, and the ARM schema's
				// genericExtension requires the key.
				if string(r.Properties.Settings) != "{}" {
					t.Errorf("deployment template sends settings %s, want {}", r.Properties.Settings)
				}
				exts = append(exts, r.Properties.facts())
			}
			if diff := cmp.Diff([]extensionFacts{wantFacts(t)}, exts); diff != "" {
				t.Errorf("deployment template extension (-want +got):\n%s", diff)
			}

			// Parameter plumbing: the policy passes exactly the template's
			// parameters, and the template uses exactly those it declares.
			wantParams := []string{"location", tt.nameParam}
			if diff := cmp.Diff(wantParams, sortedKeys(tmpl.Parameters)); diff != "" {
				t.Errorf("template parameters (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantParams, sortedKeys(d.Deployment.Properties.Parameters)); diff != "" {
				t.Errorf("parameters passed to the deployment (-want +got):\n%s", diff)
			}
			tmplRaw, err := json.Marshal(tmpl)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wantParams, parameterRefs(generic(t, tmplRaw))); diff != "" {
				t.Errorf("template parameter references (-want +got):\n%s", diff)
			}
			// Policy-level references (outside the template) name policy parameters only.
			rule := generic(t, raw).(map[string]any)["properties"].(map[string]any)["policyRule"]
			depProps := rule.(map[string]any)["then"].(map[string]any)["details"].(map[string]any)["deployment"].(map[string]any)["properties"].(map[string]any)
			delete(depProps, "template")
			if diff := cmp.Diff([]string{"additionalImageIds", "effect"}, parameterRefs(rule)); diff != "" {
				t.Errorf("policy rule parameter references (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAzCLIDoc(t *testing.T) {
	const path = "deploy/az-cli.md"
	doc := string(readFile(t, path))
	cmds := shellCommands(doc)
	thv := repoVersion(t).TypeHandlerVersion()

	required := map[string]bool{
		"az vm identity assign": false, "az vm extension set": false,
		"az vmss identity assign": false, "az vmss extension set": false, "az vmss update-instances": false,
		"az connectedmachine extension create": false, "az role assignment create": false, "az ssh vm": false,
	}
	for _, words := range cmds {
		line := strings.Join(words, " ")
		for prefix := range required {
			if hasPrefixWords(words, strings.Fields(prefix)...) {
				required[prefix] = true
			}
		}
		for _, v := range flagValues(words, "--publisher") {
			if v != Publisher {
				t.Errorf("%s: --publisher %q, want %q in: %s", path, v, Publisher, line)
			}
		}
		for _, v := range flagValues(words, "--type") {
			if v != Type {
				t.Errorf("%s: --type %q, want %q in: %s", path, v, Type, line)
			}
		}
		for _, v := range flagValues(words, "--version", "--type-handler-version") {
			if v != thv {
				t.Errorf("%s: handler version %q, want %q in: %s", path, v, thv, line)
			}
		}
		isExt := len(words) >= 4 && slices.Contains([]string{"vm", "vmss", "connectedmachine"}, words[1]) && words[2] == "extension"
		if !isExt {
			continue
		}
		names := flagValues(words, "--name", "-n")
		if len(names) != 1 {
			t.Errorf("%s: extension command without exactly one --name: %s", path, line)
			continue
		}
		allowed := []string{Type}
		if words[3] == "delete" {
			allowed = append(allowed, "AADLoginForLinux") // removing the legacy extension
		}
		if !slices.Contains(allowed, names[0]) {
			t.Errorf("%s: extension name %q, want one of %q in: %s", path, names[0], allowed, line)
		}
		if slices.Contains([]string{"set", "create"}, words[3]) && len(flagValues(words, "--publisher")) != 1 {
			t.Errorf("%s: %s without --publisher: %s", path, strings.Join(words[:4], " "), line)
		}
	}
	for prefix, seen := range required {
		if !seen {
			t.Errorf("%s lacks a %q command", path, prefix)
		}
	}
	for _, role := range []string{"Virtual Machine Administrator Login", "Virtual Machine User Login"} {
		if !strings.Contains(doc, `--role "`+role+`"`) {
			t.Errorf("%s lacks a role assignment for %q", path, role)
		}
	}
}

func TestPolicyREADME(t *testing.T) {
	const path = "deploy/policy/README.md"
	doc := string(readFile(t, path))
	var seen []string
	for _, words := range shellCommands(doc) {
		for _, p := range []string{"az policy definition create", "az policy assignment create", "az policy remediation create"} {
			if hasPrefixWords(words, strings.Fields(p)...) {
				seen = append(seen, p)
			}
		}
		if hasPrefixWords(words, "az", "policy", "assignment", "create") {
			for _, f := range []string{"--mi-system-assigned", "--location", "--role", "--identity-scope"} {
				if !slices.Contains(words, f) {
					t.Errorf("%s: az policy assignment create lacks %s", path, f)
				}
			}
			if !strings.Contains(strings.Join(words, " "), `--role "Virtual Machine Contributor"`) {
				t.Errorf("%s: the assignment's role is not Virtual Machine Contributor", path)
			}
		}
	}
	slices.Sort(seen)
	if diff := cmp.Diff([]string{"az policy assignment create", "az policy definition create", "az policy remediation create"}, slices.Compact(seen)); diff != "" {
		t.Errorf("%s commands (-want +got):\n%s", path, diff)
	}
	for _, f := range []string{"deploy-aadsshlogin-vm.json", "deploy-aadsshlogin-vmss.json"} {
		if !strings.Contains(doc, f) {
			t.Errorf("%s does not mention %s", path, f)
		}
	}
}

// TestNoMisspeltNames scans every text file under manifest/ for names that
// look like the extension's or the publisher's but are not.
func TestNoMisspeltNames(t *testing.T) {
	extName := regexp.MustCompile(`AAD\w*Login\w*`)
	pubName := regexp.MustCompile(`Microsoft\.Azure\.[A-Za-z]+`)
	scanned := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == "testdata/schemas" {
			return filepath.SkipDir // Microsoft's schemas name every extension publisher
		}
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".json", ".xml", ".md", ".bicep", ".tf":
		default:
			return nil
		}
		scanned++
		src := string(readFile(t, path))
		for _, m := range extName.FindAllString(src, -1) {
			if m != Type && m != "AADLoginForLinux" {
				t.Errorf("%s mentions %q; the extension type is %q (legacy: AADLoginForLinux)", path, m, Type)
			}
		}
		for _, m := range pubName.FindAllString(src, -1) {
			if m != Publisher {
				t.Errorf("%s mentions %q; the publisher is %q", path, m, Publisher)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scanned < 10 {
		t.Errorf("scanned only %d files; the walk is broken", scanned)
	}
}

// TestHandlerManifestAtRepoRoot — NEEDS /work/main/HandlerManifest.json.
// The lead engineer adds HandlerManifest.json at the repository root before
// integrating; until then this test FAILS on purpose, so a package without
// it can never pass.
func TestHandlerManifestAtRepoRoot(t *testing.T) {
	path := filepath.Join(repoRoot, "HandlerManifest.json")
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("HandlerManifest.json is missing at the repository root (%s): add it (the lead engineer owns it) so the package and this check are complete", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	var hm []struct {
		Name            string `json:"name"`
		HandlerManifest struct {
			UpdateMode string `json:"updateMode"`
		} `json:"handlerManifest"`
	}
	if err := json.Unmarshal(raw, &hm); err != nil {
		t.Fatalf("%s is not a JSON array of handler manifests: %v", path, err)
	}
	if len(hm) == 0 {
		t.Fatalf("%s is an empty array; the agent reads element [0]", path)
	}
	type facts struct{ Name, UpdateMode string }
	want := facts{Name: Type, UpdateMode: "UpdateWithInstall"}
	if diff := cmp.Diff(want, facts{Name: hm[0].Name, UpdateMode: hm[0].HandlerManifest.UpdateMode}); diff != "" {
		t.Errorf("%s [0] (-want +got):\n%s", path, diff)
	}
}

// TestTerraformFormat runs `terraform fmt -check`, which parses the HCL
// offline. Terraform is not a Debian package, so this check runs only where
// it is installed; the text checks in TestTerraform run everywhere.
func TestTerraformFormat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dir, err := filepath.Abs("deploy/terraform")
	if err != nil {
		t.Fatal(err)
	}
	res, err := run.Exec{}.Run(ctx, run.Cmd{
		Path: "terraform",
		Args: []string{"fmt", "-check", "-diff", "-no-color", dir},
		Env:  []string{"TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1", "HOME=" + t.TempDir()},
	})
	if errors.Is(err, run.ErrNotFound) {
		t.Skip("terraform not installed (it is not packaged for Debian); TestTerraform's text checks still ran")
	}
	if err != nil {
		t.Fatalf("terraform fmt -check failed (exit %d): %v\n%s", res.ExitCode, err, res.Stdout)
	}
}
