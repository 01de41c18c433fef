package cloud

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestForEnvironment(t *testing.T) {
	tests := []struct {
		env  string
		want Endpoints
	}{
		{"AzurePublicCloud", Endpoints{"AzurePublicCloud", DefaultPackages, "https://login.microsoftonline.com", "https://pas.windows.net"}},
		{"", Endpoints{"", DefaultPackages, "https://login.microsoftonline.com", "https://pas.windows.net"}},
		{"azureusgovernmentcloud", Endpoints{"azureusgovernmentcloud", DefaultPackages, "https://login.microsoftonline.us", "https://pasff.usgovcloudapi.net"}},
		{"AzureChinaCloud", Endpoints{"AzureChinaCloud", DefaultPackages, "https://login.chinacloudapi.cn", "https://pas.chinacloudapi.cn"}},
		{"USNat", Endpoints{"USNat", "https://repodepot.azure.eaglex.ic.gov/microsoft", "", ""}},
		{" USSec ", Endpoints{" USSec ", "https://repodepot.azure.microsoft.scloud/microsoft", "", ""}},
		{"SomethingNew", Endpoints{"SomethingNew", DefaultPackages, "https://login.microsoftonline.com", "https://pas.windows.net"}},
	}
	for _, tc := range tests {
		if d := cmp.Diff(tc.want, ForEnvironment(tc.env)); d != "" {
			t.Errorf("ForEnvironment(%q) (-want +got):\n%s", tc.env, d)
		}
	}
}
