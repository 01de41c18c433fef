// Package agent is the handler's side of the contract with the Azure Linux
// guest agent (WALinuxAgent) and the Azure Arc extension manager, which
// emulates it: HandlerEnvironment.json, the <seq>.settings files and their
// protected settings, sequence numbers and mrseq, the <seq>.status file and
// telemetry event files.
//
// The API is deliberately small: LoadEnvironment finds the environment,
// SequenceNumber picks the sequence number, ReadSettings returns the
// settings for it, and a StatusWriter and an EventWriter report back.
// Nothing here touches the network or runs commands except the Decrypter.
package agent
