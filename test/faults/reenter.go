package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// ReleaseIMDSAddress removes 169.254.169.254 from the loopback of the
// sandbox's network namespace, so that sandbox.Enter can run again in the
// same namespace with another IMDS scenario (each faultsim run enters
// afresh). It refuses to touch the host's namespace, as recorded by the
// host side in the sandbox config file.
func ReleaseIMDSAddress(cfgPath string) error {
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	var cfg struct {
		HostNetNS string `json:"hostNetNS"`
	}
	if err := json.Unmarshal(data, &cfg); err != nil {
		return fmt.Errorf("sandbox config: %w", err)
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		return err
	}
	if cfg.HostNetNS == "" || self == cfg.HostNetNS {
		return errors.New("faultsim runs in the host's network namespace; refusing to change its addresses")
	}
	// Absent is fine (first run in this namespace).
	_ = exec.Command("ip", "addr", "del", "169.254.169.254/32", "dev", "lo").Run()
	return nil
}
