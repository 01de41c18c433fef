package manifest

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rgScope is a resource-group (or subscription, or management-group) scope:
// a resource-group ID variable from `az group show … --query id`, or a
// literal scope ending at the resource group or above.
var (
	rgScopeVar     = regexp.MustCompile(`^"?\$\{?rg(_id)?\}?"?$`)
	rgScopeLiteral = regexp.MustCompile(`^"?(/providers/Microsoft\.Management/managementGroups/[^/"]+|/subscriptions/[^/"]+(/resourceGroups/[^/"]+)?)"?$`)
)

// TestRoleAssignmentsAtResourceGroupScope: the public document recommends
// assigning the sign-in roles at the resource group or higher, not per VM
// (per-VM assignments run into the role-assignment limit per subscription);
// every example follows it, and a resource-group ID it uses is defined.
func TestRoleAssignmentsAtResourceGroupScope(t *testing.T) {
	for _, path := range []string{"deploy/az-cli.md", filepath.Join(repoRoot, "README.md")} {
		doc := string(readFile(t, path))
		n := 0
		for _, words := range shellCommands(doc) {
			if !hasPrefixWords(words, "az", "role", "assignment", "create") {
				continue
			}
			n++
			scopes := flagValues(words, "--scope")
			if len(scopes) != 1 {
				t.Errorf("%s: role assignment without exactly one --scope: %s", path, strings.Join(words, " "))
				continue
			}
			s := scopes[0]
			if !rgScopeVar.MatchString(s) && !rgScopeLiteral.MatchString(s) {
				t.Errorf("%s: role assignment at scope %s; assign at the resource group or higher: %s", path, s, strings.Join(words, " "))
			}
			if rgScopeVar.MatchString(s) && !strings.Contains(doc, "az group show") {
				t.Errorf("%s: scope %s is not defined by an `az group show … --query id`", path, s)
			}
		}
		if n == 0 {
			t.Errorf("%s has no az role assignment create example", path)
		}
	}
}
