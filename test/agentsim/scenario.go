package agentsim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// ScenarioConfig is the input of the scenarios.
type ScenarioConfig struct {
	// Package is the handler version installed first.
	Package Package
	// NewPackage is the version the update scenario moves to (required by
	// "update"; "full" skips the update without it).
	NewPackage *Package
	// Settings is the first goal state's settings (nil: no settings, empty
	// 0.settings).
	Settings *Settings
	// NewSettings is the settings-change goal state; default: Settings with
	// the sequence number increased by one.
	NewSettings *Settings
}

// newSettings is cfg.NewSettings, else cfg's settings with the sequence
// number after the last goal state's.
func (s *Simulator) newSettings(c ScenarioConfig) *Settings {
	if c.NewSettings != nil {
		return c.NewSettings
	}
	n := Settings{Seq: seqOf(s.lastGoal(c)) + 1}
	if c.Settings != nil {
		n.Public, n.Protected = c.Settings.Public, c.Settings.Protected
	}
	return &n
}

// lastGoal is the settings of the last goal state processed: remembered by
// this Simulator, else (a new process on an existing lib dir) the settings
// file on disk replayed verbatim, the sequence number found by the agent's
// "last modified <n>.settings" rule; an empty file means no settings.
func (s *Simulator) lastGoal(c ScenarioConfig) *Settings {
	if s.current != nil || s.processed {
		return s.current
	}
	v, ok := s.InstalledVersion()
	if !ok {
		return c.Settings
	}
	in := s.inst(v)
	seq := s.lastSeq(in)
	b, err := os.ReadFile(filepath.Join(in.configDir(), fmt.Sprintf("%d.settings", seq)))
	if err != nil {
		return c.Settings
	}
	if len(b) == 0 {
		return nil
	}
	return &Settings{Seq: seq, File: b}
}

// ScenarioFunc runs one scenario on a simulator.
type ScenarioFunc func(ctx context.Context, s *Simulator, cfg ScenarioConfig) (Outcome, error)

// Scenarios lists the scenarios by name.
var Scenarios = map[string]ScenarioFunc{
	"first":    FirstInstall,
	"settings": SettingsChange,
	"restart":  AgentRestart,
	"disable":  DisableScenario,
	"remove":   Removal,
	"update":   VersionUpdate,
	"full":     Full,
}

// ScenarioNames returns the scenario names, sorted.
func ScenarioNames() []string {
	var n []string
	for k := range Scenarios {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// goal processes an enabled goal state and remembers its settings.
func (s *Simulator) goal(ctx context.Context, pkg Package, set *Settings) (Outcome, error) {
	out, err := s.GoalState(ctx, pkg, set)
	if err == nil {
		s.current, s.processed = set, true
	}
	return out, err
}

// currentVersion is the installed version, else the version of pkg.
func (s *Simulator) currentVersion(pkg Package) (string, error) {
	if v, ok := s.InstalledVersion(); ok {
		return v, nil
	}
	return pkg.version()
}

// FirstInstall: setup → install → enable on an empty lib dir.
func FirstInstall(ctx context.Context, s *Simulator, cfg ScenarioConfig) (Outcome, error) {
	s.SetScenario("first")
	if v, ok := s.InstalledVersion(); ok {
		return Outcome{}, fmt.Errorf("first install: version %s is already installed in %s", v, s.opt.LibDir)
	}
	return s.goal(ctx, cfg.Package, cfg.Settings)
}

// SettingsChange: a new sequence number for the installed version ⇒
// settings written, enable only.
func SettingsChange(ctx context.Context, s *Simulator, cfg ScenarioConfig) (Outcome, error) {
	s.SetScenario("settings")
	v, err := s.currentVersion(cfg.Package)
	if err != nil {
		return Outcome{}, err
	}
	return s.goal(ctx, Package{Zip: cfg.Package.Zip, Version: v}, s.newSettings(cfg))
}

// AgentRestart: the first goal state after an agent restart re-runs enable
// with the same sequence number.
func AgentRestart(ctx context.Context, s *Simulator, cfg ScenarioConfig) (Outcome, error) {
	s.SetScenario("restart")
	v, err := s.currentVersion(cfg.Package)
	if err != nil {
		return Outcome{}, err
	}
	return s.goal(ctx, Package{Zip: cfg.Package.Zip, Version: v}, s.lastGoal(cfg))
}

// DisableScenario: legacy "disabled" goal state.
func DisableScenario(ctx context.Context, s *Simulator, cfg ScenarioConfig) (Outcome, error) {
	s.SetScenario("disable")
	v, err := s.currentVersion(cfg.Package)
	if err != nil {
		return Outcome{}, err
	}
	return s.Disable(ctx, v)
}

// Removal: "uninstall" goal state.
func Removal(ctx context.Context, s *Simulator, cfg ScenarioConfig) (Outcome, error) {
	s.SetScenario("remove")
	v, err := s.currentVersion(cfg.Package)
	if err != nil {
		return Outcome{}, err
	}
	return s.Remove(ctx, v)
}

// VersionUpdate: goal state with cfg.NewPackage while another version is
// installed.
func VersionUpdate(ctx context.Context, s *Simulator, cfg ScenarioConfig) (Outcome, error) {
	s.SetScenario("update")
	if cfg.NewPackage == nil {
		return Outcome{}, errors.New("update scenario: no new package given")
	}
	old, ok := s.InstalledVersion()
	if !ok {
		return Outcome{}, errors.New("update scenario: no version installed")
	}
	nv, err := cfg.NewPackage.version()
	if err != nil {
		return Outcome{}, err
	}
	if nv == old {
		return Outcome{}, fmt.Errorf("update scenario: version %s is already installed; give a package with another version", nv)
	}
	return s.goal(ctx, *cfg.NewPackage, s.lastGoal(cfg))
}

// Full runs first → settings → restart → update (with a new package) →
// disable → restart (re-enable) → remove on one lib dir.
func Full(ctx context.Context, s *Simulator, cfg ScenarioConfig) (Outcome, error) {
	var all Outcome
	type stage struct {
		name string
		fn   ScenarioFunc
	}
	stages := []stage{{"first", FirstInstall}, {"settings", SettingsChange}, {"restart", AgentRestart}}
	if cfg.NewPackage != nil {
		stages = append(stages, stage{"update", VersionUpdate})
	}
	stages = append(stages, stage{"disable", DisableScenario}, stage{"restart", AgentRestart}, stage{"remove", Removal})
	for _, st := range stages {
		out, err := st.fn(ctx, s, cfg)
		all.Steps = append(all.Steps, out.Steps...)
		if !out.OK() && all.OK() {
			all.Code, all.Message = out.Code, out.Message
		}
		if err != nil {
			return all, fmt.Errorf("%s: %w", st.name, err)
		}
	}
	return all, nil
}

// RunScenario runs the named scenario. Scenarios other than "first" and
// "full" need an installed handler: when none is, FirstInstall runs first.
func RunScenario(ctx context.Context, s *Simulator, name string, cfg ScenarioConfig) (Outcome, error) {
	fn, ok := Scenarios[name]
	if !ok {
		return Outcome{}, fmt.Errorf("unknown scenario %q (known: %v)", name, ScenarioNames())
	}
	var all Outcome
	if _, installed := s.InstalledVersion(); !installed && name != "first" && name != "full" {
		out, err := FirstInstall(ctx, s, cfg)
		all.Steps = append(all.Steps, out.Steps...)
		if err != nil {
			return all, err
		}
		if !out.OK() {
			all.Code, all.Message = out.Code, out.Message
		}
	}
	out, err := fn(ctx, s, cfg)
	all.Steps = append(all.Steps, out.Steps...)
	if !out.OK() {
		all.Code, all.Message = out.Code, out.Message
	}
	return all, err
}
