package lifecycle

import (
	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/handler/identity"
)

func proberFor(d Deps, l log.Logger) *identity.Prober {
	return &identity.Prober{
		Transport: d.Transport, Clock: d.Clock, Getenv: d.Getenv, Root: d.Root, Logger: l,
		IMDSBase: d.IMDSBase, Window: d.IdentityWindow,
	}
}
