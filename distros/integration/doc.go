// Package integration holds the end-to-end tests of package distros: the
// real Installer drives real apt/dpkg, dnf/rpm and zypper inside a Debian
// chroot (test/fixtures) posing as Debian 12, RHEL 9 or SLES 15, against a
// packages.microsoft.com look-alike served over HTTPS on loopback, all
// inside a private network namespace whose only reachable address is that
// server.
//
// They need root, mmdebstrap and the fixture tools. Without them the tests
// skip, unless AADSSH_REQUIRE_INTEGRATION=1, when they fail.
package integration
