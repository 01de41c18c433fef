package agentsim

import (
	"context"
	"fmt"
)

// Install processes the first goal state for pkg on a lib dir where no
// version of the handler is installed: setup (unzip, HandlerEnvironment.json,
// settings) → install → enable.
func (s *Simulator) Install(ctx context.Context, pkg Package, set *Settings) (Outcome, error) {
	if v, ok := s.InstalledVersion(); ok {
		return Outcome{}, fmt.Errorf("install: version %s is already installed; use Enable or Update", v)
	}
	return s.goal(ctx, pkg, set)
}

// Enable processes a goal state for the installed version (settings
// change, or the same settings after an agent restart): the settings file is
// rewritten and enable runs.
func (s *Simulator) Enable(ctx context.Context, version string, set *Settings) (Outcome, error) {
	if st := s.HandlerState(version); st == StateNotInstalled || st == StateFailedUpgrade {
		return Outcome{}, fmt.Errorf("enable: version %s is %s; use Install (or Update)", version, st)
	}
	return s.goal(ctx, Package{Version: version}, set)
}

// Restart simulates an agent restart: the same goal state is processed
// again, so enable runs with the last settings and sequence number (those
// this Simulator processed, else the settings file on disk, replayed).
func (s *Simulator) Restart(ctx context.Context, version string) (Outcome, error) {
	return s.Enable(ctx, version, s.lastGoal(ScenarioConfig{}))
}

// Update processes a goal state that moves the installed oldVersion to
// newPkg (an upgrade, or a downgrade when newPkg is older).
func (s *Simulator) Update(ctx context.Context, oldVersion string, newPkg Package, set *Settings) (Outcome, error) {
	if v, ok := s.InstalledVersion(); !ok || v != oldVersion {
		return Outcome{}, fmt.Errorf("update: installed version is %q, not %q", v, oldVersion)
	}
	nv, err := newPkg.version()
	if err != nil {
		return Outcome{}, err
	}
	if nv == oldVersion {
		return Outcome{}, fmt.Errorf("update: the new package has the installed version %s", nv)
	}
	return s.goal(ctx, newPkg, set)
}
