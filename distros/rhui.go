package distros

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/run"
)

// RHEL pay-as-you-go images reach Red Hat's repositories through Azure's
// RHUI with a client certificate from the rhui-azure-rhel<N> package,
// configured in /etc/yum.repos.d (rh-cloud.repo, section
// [rhui-microsoft-azure-rhel<N>]). When that certificate has expired,
// every dnf/yum transaction fails. Microsoft's installer therefore first
// runs `yum update --disablerepo='*' --enablerepo='*microsoft-azure*'`,
// and Microsoft's RHUI documentation gives the same command as the fix;
// Ensure does the same where such a repository exists.

// rhuiMarker is what the ids of Azure's RHUI client repositories contain.
const rhuiMarker = "microsoft-azure"

// rhuiRepoIDs returns the ids of the RHUI client repositories in a .repo
// file, enabled or not (as --enablerepo does).
func rhuiRepoIDs(data []byte) []string {
	var ids []string
	for _, s := range parseRepoINI(data) {
		if strings.Contains(strings.ToLower(s.id), rhuiMarker) && !slices.Contains(ids, s.id) {
			ids = append(ids, s.id)
		}
	}
	return ids
}

// refreshRHUI updates the RHUI client package from its repository. A
// failure is not fatal (a later step may still work) and comes back as
// the warning; only a held lock or a transaction that outlives the budget
// are errors.
func (in *Installer) refreshRHUI(ctx context.Context) (warning string, err error) {
	if in.Platform.Manager != Dnf && in.Platform.Manager != Yum {
		return "", nil
	}
	var ids []string
	for _, f := range globSys(in.Root, "/etc/yum.repos.d", ".repo") {
		if data, err := in.Root.ReadFile(f); err == nil {
			for _, id := range rhuiRepoIDs(data) {
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
		}
	}
	if len(ids) == 0 {
		return "", nil
	}
	bin := string(in.Platform.Manager)
	args := []string{"-y", "--disablerepo=*"}
	for _, id := range ids {
		args = append(args, "--enablerepo="+id)
	}
	args = append(args, "update")
	in.progress("refreshing the Azure RHUI client (%s) first, as an expired RHUI certificate makes every %s transaction fail", strings.Join(ids, ", "), bin)
	res, err := in.lockedRun(ctx, run.Cmd{Path: bin, Args: args, Detach: true})
	if err == nil {
		return "", nil
	}
	if isBusy(err) {
		return "", err
	}
	return fmt.Sprintf("the Azure RHUI client could not be refreshed (`%s %s` failed: %s); if its certificate has expired, Red Hat's repositories fail too: "+
		"run `sudo %s update -y --disablerepo='*' --enablerepo='*microsoft-azure*'` and see Microsoft's RHUI troubleshooting (https://learn.microsoft.com/azure/virtual-machines/workloads/redhat/redhat-rhui)",
		bin, strings.Join(args, " "), res.Tail(200), bin), nil
}

// withRHUIHint names a failed RHUI refresh in a later package-manager
// failure, its likely cause.
func withRHUIHint(err error, warning string) error {
	if warning == "" || failure.CodeOf(err) != failure.Dependency {
		return err
	}
	return failure.Wrap(failure.Dependency, err, "%s", strings.ToUpper(warning[:1])+warning[1:])
}
