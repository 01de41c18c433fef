package realagent

import "github.com/Azure/aadsshlogin-extension-linux/test/fixtures"

// Trixie is a Debian 13 chroot with its waagent (2.12), for the scenarios
// run with the newer agent; bookworm's (fixtures.Bookworm, waagent 2.7.3)
// is the default.
var Trixie = fixtures.ChrootSpec{Suite: "trixie", Packages: append(append([]string(nil), fixtures.AptOnlyPackages...), "waagent")}
