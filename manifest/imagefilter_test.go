package manifest

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
)

// vmFacts are the alias values Azure Policy sees for a machine.
type vmFacts map[string]string

// evalCondition evaluates the subset of the Azure Policy condition language
// the definitions here use (allOf, anyOf, not; field with equals, notEquals,
// in, notIn, like, notLike, contains; comparisons ignore case, as Azure
// Policy's do). params are the assignment's parameter values.
func evalCondition(t *testing.T, c map[string]any, vm vmFacts, params map[string]any) bool {
	t.Helper()
	if xs, ok := c["allOf"].([]any); ok {
		for _, x := range xs {
			if !evalCondition(t, x.(map[string]any), vm, params) {
				return false
			}
		}
		return true
	}
	if xs, ok := c["anyOf"].([]any); ok {
		for _, x := range xs {
			if evalCondition(t, x.(map[string]any), vm, params) {
				return true
			}
		}
		return false
	}
	if x, ok := c["not"].(map[string]any); ok {
		return !evalCondition(t, x, vm, params)
	}
	field, ok := c["field"].(string)
	if !ok {
		t.Fatalf("condition without field: %v", c)
	}
	got := strings.ToLower(vm[field])
	list := func(v any) []string {
		if s, ok := v.(string); ok && strings.HasPrefix(s, "[parameters('") {
			v = params[strings.TrimSuffix(strings.TrimPrefix(s, "[parameters('"), "')]")]
		}
		var out []string
		for _, e := range v.([]any) {
			out = append(out, strings.ToLower(e.(string)))
		}
		return out
	}
	like := func(pattern string) bool {
		if strings.Count(pattern, "*") > 1 {
			// Azure Policy: "the value shouldn't have more than one wildcard".
			t.Errorf("like pattern %q has more than one wildcard", pattern)
		}
		ok, err := path.Match(strings.ToLower(pattern), got)
		if err != nil {
			t.Fatalf("pattern %q: %v", pattern, err)
		}
		return ok
	}
	for op, want := range c {
		switch op {
		case "field":
		case "equals":
			return got == strings.ToLower(fmt.Sprint(want))
		case "notEquals":
			return got != strings.ToLower(fmt.Sprint(want))
		case "in":
			return slices.Contains(list(want), got)
		case "notIn":
			return !slices.Contains(list(want), got)
		case "like":
			return like(want.(string))
		case "notLike":
			return !like(want.(string))
		case "contains":
			return strings.Contains(got, strings.ToLower(want.(string)))
		default:
			t.Fatalf("operator %q is not evaluated by this test", op)
		}
	}
	t.Fatalf("condition without operator: %v", c)
	return false
}

// marketplaceImages are real Azure Marketplace images (publisher, offer,
// SKU) and whether the handler supports their distribution (distros/release/matrix.go).
var marketplaceImages = []struct {
	name, publisher, offer, sku string
	supported                   bool
}{
	{"Ubuntu 16.04", "Canonical", "UbuntuServer", "16.04-LTS", true},
	{"Ubuntu 18.04 gen2", "Canonical", "UbuntuServer", "18_04-lts-gen2", true},
	{"Ubuntu 20.04", "Canonical", "0001-com-ubuntu-server-focal", "20_04-lts-gen2", true},
	{"Ubuntu 20.04 Pro", "Canonical", "0001-com-ubuntu-pro-focal", "pro-20_04-lts", true},
	{"Ubuntu 22.04", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", true},
	{"Ubuntu 22.04 arm64", "Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-arm64", true},
	{"Ubuntu 24.04", "Canonical", "ubuntu-24_04-lts", "server", true},
	{"Ubuntu 24.04 arm64", "Canonical", "ubuntu-24_04-lts", "server-arm64", true},
	{"Ubuntu 14.04", "Canonical", "UbuntuServer", "14.04.5-LTS", false},
	{"Ubuntu 19.04 (interim)", "Canonical", "UbuntuServer", "19.04", false},
	{"Ubuntu 23.10 (interim)", "Canonical", "0001-com-ubuntu-server-mantic", "23_10-gen2", false},
	{"Ubuntu 24.10 (interim)", "Canonical", "ubuntu-24_10", "server", false},
	{"Ubuntu 25.04 (interim)", "Canonical", "ubuntu-25_04", "server", false},
	{"Debian 9", "credativ", "Debian", "9", true},
	{"Debian 10", "Debian", "debian-10", "10-gen2", true},
	{"Debian 11", "Debian", "debian-11", "11", true},
	{"Debian 12", "Debian", "debian-12", "12-gen2", true},
	{"Debian 12 arm64", "Debian", "debian-12", "12-arm64", true},
	{"Debian 13", "Debian", "debian-13", "13-gen2", false},
	{"Debian 8", "credativ", "Debian", "8", false},
	{"RHEL 7.9", "RedHat", "RHEL", "7_9", true},
	{"RHEL 7 LVM", "RedHat", "RHEL", "7-LVM", true},
	{"RHEL 8.10 gen2", "RedHat", "RHEL", "810-gen2", true},
	{"RHEL 9.4", "RedHat", "RHEL", "9_4", true},
	{"RHEL 9 SAP HA", "RedHat", "RHEL-SAP-HA", "9_2", true},
	{"RHEL 7.3", "RedHat", "RHEL", "7.3", false},
	{"RHEL 8.2", "RedHat", "RHEL", "8.2", false},
	{"RHEL 10", "RedHat", "RHEL", "10_0", false},
	{"RHEL 6", "RedHat", "RHEL", "6.10", false},
	{"AlmaLinux 8", "almalinux", "almalinux-x86_64", "8-gen2", true},
	{"AlmaLinux 9", "almalinux", "almalinux-x86_64", "9-gen2", true},
	{"AlmaLinux 10", "almalinux", "almalinux-x86_64", "10-gen2", false},
	{"Rocky 9", "resf", "rockylinux-x86_64", "9-base", true},
	{"Rocky 8 (CIQ)", "ciq", "rocky-community-editions", "rocky-community-8", true},
	{"Oracle Linux 8", "Oracle", "Oracle-Linux", "ol810-lvm-gen2", true},
	{"Oracle Linux 9", "Oracle", "Oracle-Linux", "ol94-lvm-gen2", true},
	{"Oracle Linux 7", "Oracle", "Oracle-Linux", "ol79-gen2", false},
	{"SLES 12 SP5", "SUSE", "sles-12-sp5", "gen2", true},
	{"SLES 15 SP5", "SUSE", "sles-15-sp5", "gen2", true},
	{"SLES 15 SP6 SAP", "SUSE", "sles-sap-15-sp6", "gen2", true},
	{"SLES 11", "SUSE", "SLES", "11-SP4", false},
	{"openSUSE Leap 15.5", "SUSE", "opensuse-leap-15-5", "gen2", true},
	{"CBL-Mariner 2.0", "MicrosoftCBLMariner", "cbl-mariner", "cbl-mariner-2-gen2", true},
	{"Azure Linux 3.0", "MicrosoftCBLMariner", "azure-linux-3", "azure-linux-3-gen2", true},
	{"CBL-Mariner 1.0", "MicrosoftCBLMariner", "cbl-mariner", "cbl-mariner-1", false},
	{"CentOS 7", "OpenLogic", "CentOS", "7_9-gen2", false},
	{"Fedora", "tunnelbiz", "fedora", "fedora-40", false},
	{"Flatcar", "kinvolk", "flatcar-container-linux-free", "stable-gen2", false},
}

// TestPoliciesTargetSupportedImagesOnly: the deployIfNotExists definitions
// must not reach machines whose image the handler refuses (exit 51: the
// extension fails and the machine stays non-compliant), so the if-condition
// filters by publisher, offer and SKU (as Azure's built-in extension
// policies do), with an image-ID parameter for custom images.
func TestPoliciesTargetSupportedImagesOnly(t *testing.T) {
	for _, tt := range []struct{ file, resourceType, osType string }{
		{"deploy/policy/deploy-aadsshlogin-vm.json", "Microsoft.Compute/virtualMachines", "Microsoft.Compute/virtualMachines/storageProfile.osDisk.osType"},
		{"deploy/policy/deploy-aadsshlogin-vmss.json", "Microsoft.Compute/virtualMachineScaleSets", "Microsoft.Compute/VirtualMachineScaleSets/virtualMachineProfile.storageProfile.osDisk.osType"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(readFile(t, tt.file), &doc); err != nil {
				t.Fatal(err)
			}
			cond := doc["properties"].(map[string]any)["policyRule"].(map[string]any)["if"].(map[string]any)
			noExtra := map[string]any{"additionalImageIds": []any{}}
			for _, img := range marketplaceImages {
				vm := vmFacts{"type": tt.resourceType, tt.osType: "Linux", "identity.type": "SystemAssigned",
					"Microsoft.Compute/imagePublisher": img.publisher, "Microsoft.Compute/imageOffer": img.offer, "Microsoft.Compute/imageSku": img.sku}
				if got := evalCondition(t, cond, vm, noExtra); got != img.supported {
					t.Errorf("%s (%s:%s:%s): policy applies = %v, want %v", img.name, img.publisher, img.offer, img.sku, got, img.supported)
				}
			}
			custom := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/ubuntu2204/versions/1.0.0"
			vm := vmFacts{"type": tt.resourceType, tt.osType: "Linux", "identity.type": "SystemAssigned", "Microsoft.Compute/imageId": custom}
			if evalCondition(t, cond, vm, noExtra) {
				t.Error("a custom image applies without being listed")
			}
			if !evalCondition(t, cond, vm, map[string]any{"additionalImageIds": []any{custom}}) {
				t.Error("a custom image listed in additionalImageIds does not apply")
			}
			vm["identity.type"] = "UserAssigned"
			if evalCondition(t, cond, vm, map[string]any{"additionalImageIds": []any{custom}}) {
				t.Error("applies to a machine without a system-assigned identity")
			}
		})
	}
}
