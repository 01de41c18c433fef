package agent

import (
	"strings"
	"testing"
	"time"
)

// Benchmarks for the agent-contract parsers and the status encoder; `make
// bench` runs them and puts the figures in bench/report.md.

const benchEnvironment = `[{"name": "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux", "version": 1.0, "handlerEnvironment": {` +
	`"logFolder": "/var/log/azure/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux", ` +
	`"configFolder": "/var/lib/waagent/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux-1.0.0.1/config", ` +
	`"statusFolder": "/var/lib/waagent/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux-1.0.0.1/status", ` +
	`"heartbeatFile": "/var/lib/waagent/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux-1.0.0.1/heartbeat.log", ` +
	`"eventsFolder": "/var/log/azure/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux/events", ` +
	`"eventsFolder_preview": "/var/log/azure/Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux/events"}}]`

const benchSettings = `{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"mirror": {"url": "https://mirror.example.com/microsoft", ` +
	`"publicKey": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQENBFYxWIwBCADAKoZhZlJxGNGWzqV+1OG1xiQeoowKhssGAKvd+buXCGISZJwT\n-----END PGP PUBLIC KEY BLOCK-----\n"}}, ` +
	`"protectedSettings": null, "protectedSettingsCertThumbprint": null}}]}`

// benchParse measures parse on data, reporting throughput in bytes.
func benchParse[T any](b *testing.B, data string, parse func([]byte) (T, error)) {
	in := []byte(data)
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := parse(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseEnvironment(b *testing.B) { benchParse(b, benchEnvironment, ParseEnvironment) }

func BenchmarkParseSettings(b *testing.B) { benchParse(b, benchSettings, ParseSettings) }

func BenchmarkStatusEncode(b *testing.B) {
	w := StatusWriter{Name: "Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux", Now: func() time.Time { return time.Unix(1700000000, 0) }}
	r := Report{Operation: "Enable", Status: Success,
		Message: "Microsoft Entra ID sign-in is ready: aadsshlogin 1.0.030000001 from https://packages.microsoft.com on Debian GNU/Linux 12 (bookworm).",
		SubStatus: []SubStatus{
			{Name: "sshd", Status: Warning, Message: strings.Repeat("PasswordAuthentication is disabled in a Match block. ", 4)},
			{Name: "packages", Status: Warning, Message: "aadsshlogin is pinned"},
		}}
	for b.Loop() {
		if _, err := w.Encode(r); err != nil {
			b.Fatal(err)
		}
	}
}
