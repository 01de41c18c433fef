package state

import (
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// BootIDFile is the kernel's random id of the current boot; it changes on
// every boot and never with the wall clock.
const BootIDFile = "/proc/sys/kernel/random/boot_id"

// BootID returns the current boot's id, or "" when the kernel does not
// expose it (then markers tied to the boot are tied to nothing but the
// versions and sequence numbers they name).
func BootID(root sysroot.Root) string {
	b, err := root.ReadFile(BootIDFile)
	if err != nil || len(b) > 128 {
		return ""
	}
	return strings.TrimSpace(string(b))
}
