// Package agentsim simulates the Linux guest agent (WALinuxAgent) driving an
// extension handler package: it unpacks a handler zip into a stand-in for
// /var/lib/waagent, writes HandlerEnvironment.json and the settings files,
// runs the manifest's commands the way the agent does (through /bin/sh, in a
// new session, with the agent's environment variables and timeouts, killing
// the whole process group on timeout), validates the status file like the
// agent, keeps config/HandlerState and follows the agent's ordering for
// install, enable, settings change, restart, disable, removal and version
// update.
//
// The behaviour mirrors Azure/WALinuxAgent azurelinuxagent/ga/exthandlers.py
// and extensionprocessutil.py as summarised in shared/docs/agent-contract.md.
// It is a test tool: it deliberately starts commands with `sh -c`, which the
// handler itself must never do.
package agentsim
