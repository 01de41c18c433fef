package distros

import (
	"context"
	"fmt"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/distros/release"
	"github.com/Azure/aadsshlogin-extension-linux/distros/repo"
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

// refreshRHUI updates the RHUI client package from its repository. A
// failure is not fatal (a later step may still work) and comes back as
// the warning; only a held lock or a transaction that outlives the budget
// are errors.
func (in *Installer) refreshRHUI(ctx context.Context) (warning string, err error) {
	if in.Platform.Manager != release.Dnf && in.Platform.Manager != release.Yum {
		return "", nil
	}
	ids := repo.RHUIRepoIDs(in.Root)
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
