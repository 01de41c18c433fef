// Package identity checks, through Azure IMDS or the Azure Arc HIMDS
// endpoint, that the machine has a system-assigned managed identity, and
// reads the instance metadata the handler needs (cloud, names for messages).
package identity

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-kit/log"

	"github.com/Azure/aadsshlogin-extension-linux/handler/clock"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// Kind tells which metadata endpoint answered.
type Kind string

// The kinds of machine.
const (
	AzureVM Kind = "azure-vm"
	Arc     Kind = "arc"
)

// Identity is a positive answer of Check. The token itself is never kept.
type Identity struct {
	Kind Kind
	// UserAssigned is true when the token came from a user-assigned identity
	// (the VM then has no system-assigned one of its own).
	UserAssigned bool
}

// Instance is the subset of IMDS compute metadata the handler uses.
type Instance struct {
	AzEnvironment  string
	Name           string
	ResourceGroup  string
	SubscriptionID string
	VMScaleSetName string
	Location       string
}

// Prober talks to IMDS (Azure VM) or HIMDS (Arc). Zero fields get defaults.
type Prober struct {
	// Transport performs HTTP; it must not use a proxy (the default does not).
	Transport http.RoundTripper
	Clock     clock.Clock
	Getenv    func(string) string
	Root      sysroot.Root
	Logger    log.Logger
	// IMDSBase defaults to http://169.254.169.254.
	IMDSBase string
	// Window bounds how long a missing identity is re-probed before Check
	// concludes it is missing (a fresh assignment takes time to appear).
	Window time.Duration
}

var errNotImplemented = errors.New("not implemented yet")

// Check returns the identity, or an error classified as
// failure.NoSystemIdentity (exit 22) or failure.Dependency (exit 52).
func (p *Prober) Check(ctx context.Context) (Identity, error) { return Identity{}, errNotImplemented }

// Instance reads compute metadata (Azure VMs only; Arc returns zero values).
func (p *Prober) Instance(ctx context.Context) (Instance, error) { return Instance{}, errNotImplemented }

// IsArc reports whether this machine is an Azure Arc-enabled server.
func (p *Prober) IsArc() bool { return false }
