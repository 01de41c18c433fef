// Package cloud maps the Azure environment a VM runs in (IMDS
// compute/azEnvironment) to the endpoints the extension and the sign-in
// packages need.
package cloud

import "strings"

// Endpoints are the outbound endpoints of one Azure cloud.
type Endpoints struct {
	// Environment is the azEnvironment value it was chosen for.
	Environment string
	// Packages is the base URL that stands for https://packages.microsoft.com.
	Packages string
	// Login is the Entra ID endpoint used by the PAM module ("" = unknown).
	Login string
	// RBAC is the endpoint used for Azure RBAC checks ("" = unknown).
	RBAC string
}

// DefaultPackages is the public Microsoft package repository.
const DefaultPackages = "https://packages.microsoft.com"

// ForEnvironment returns the endpoints for an azEnvironment value (compared
// case-insensitively). Unknown or empty values get the public cloud's.
func ForEnvironment(azEnvironment string) Endpoints {
	e := Endpoints{Environment: azEnvironment, Packages: DefaultPackages}
	switch strings.ToLower(strings.TrimSpace(azEnvironment)) {
	case "azureusgovernmentcloud":
		e.Login, e.RBAC = "https://login.microsoftonline.us", "https://pasff.usgovcloudapi.net"
	case "azurechinacloud":
		e.Login, e.RBAC = "https://login.chinacloudapi.cn", "https://pas.chinacloudapi.cn"
	case "usnat":
		e.Packages = "https://repodepot.azure.eaglex.ic.gov/microsoft"
	case "ussec":
		e.Packages = "https://repodepot.azure.microsoft.scloud/microsoft"
	default:
		e.Login, e.RBAC = "https://login.microsoftonline.com", "https://pas.windows.net"
	}
	return e
}
