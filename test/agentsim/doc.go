// Package agentsim simulates the Linux guest agent (WALinuxAgent) driving an
// extension handler package: it unpacks a handler zip into a stand-in for
// /var/lib/waagent, writes HandlerEnvironment.json and the settings files
// (protected settings encrypted with openssl cms to a fresh self-signed
// certificate), runs the manifest's commands the way the agent does (through
// /bin/sh, cwd = the versioned dir, in a new session, with the agent's
// variables under the inherited environment, killing the whole process group
// with SIGKILL on timeout), validates status/<seq>.status like the agent,
// keeps config/HandlerState and config/HandlerStatus and follows the agent's
// ordering for install, enable, settings change, restart, disable, removal
// and version update (including downgrade and continueOnUpdateFailure).
//
// The behaviour mirrors Azure/WALinuxAgent @ a976115f
// azurelinuxagent/ga/exthandlers.py and extensionprocessutil.py, summarised
// in shared/docs/agent-contract.md. It is a test tool: it deliberately runs
// commands with `sh -c`, which the handler itself must never do.
//
// API:
//
//	sim, err := agentsim.New(agentsim.Options{LibDir: lib, LogDir: logDir, TimeoutScale: 0.01})
//	out, err := sim.Install(ctx, agentsim.Package{Zip: zip1}, &agentsim.Settings{Seq: 0, Public: pub})
//	out, err = sim.Enable(ctx, "1.0.0.1", &agentsim.Settings{Seq: 1, Public: pub2}) // settings change
//	out, err = sim.Restart(ctx, "1.0.0.1")                                          // same seq again
//	out, err = sim.Update(ctx, "1.0.0.1", agentsim.Package{Zip: zip2}, settings)
//	out, err = sim.Disable(ctx, "1.0.0.2")
//	out, err = sim.Remove(ctx, "1.0.0.2")
//	out, err = agentsim.RunScenario(ctx, sim, "full", agentsim.ScenarioConfig{...})
//
// Each call returns an Outcome: the Steps taken (command steps with exit
// code, CRP code, duration, captured output, agent variables, handler state
// and parsed extension status; agent steps such as setup, copy-status and
// remove-dir) and the handler status code/message the agent would report.
// A Go error means the simulator itself could not proceed.
//
// Command: go run ./test/agentsim/cmd/agentsim -h
package agentsim
