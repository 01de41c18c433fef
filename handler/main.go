// Command aadsshlogin-handler is the AADSSHLoginForLinux VM extension
// handler. The guest agent runs it (through scripts/aadsshlogin-shim) with
// one of install, enable, disable, uninstall or update; people can run
// `diagnose` and `version`.
package main

import (
	"os"

	"github.com/Azure/aadsshlogin-extension-linux/handler/lifecycle"
)

// version is stamped at build time with -ldflags "-X main.version=…".
var version = "0.0.0.0-dev"

func main() {
	os.Exit(lifecycle.Main(os.Args, lifecycle.Production(version)))
}
