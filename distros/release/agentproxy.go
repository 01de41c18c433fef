package release

import "fmt"

// AgentUnit is the systemd unit of the Azure guest agent on rel:
// "walinuxagent" on Debian and Ubuntu, "waagent" on every other distribution
// of the support matrix (WALinuxAgent osutil get_service_name); "" when
// rel is unknown.
func AgentUnit(rel Release) string {
	switch {
	case rel.ID == "":
		return ""
	case rel.ID == "debian" || rel.ID == "ubuntu":
		return "walinuxagent"
	default:
		return "waagent"
	}
}

// ProxyAdvice is the one piece of advice, reused by every message that
// mentions proxies, on how this machine gives extensions a proxy: on an
// Azure VM as Environment= lines of the guest agent's unit (named for
// rel, see AgentUnit), with 169.254.169.254 exempt because IMDS must never
// be proxied; on an Azure Arc-enabled server with azcmagent. It starts in
// lower case, so callers can lead into it ("Behind a proxy, " + advice).
func ProxyAdvice(rel Release, arc bool) string {
	if arc {
		return "set the proxy with `azcmagent config set proxy.url http://<proxy>:<port>` " +
			"(Azure Arc passes it to its extensions)"
	}
	unit := AgentUnit(rel)
	name := unit + ".service"
	if unit == "" {
		unit, name = "waagent", "waagent.service (walinuxagent.service on Debian and Ubuntu)"
	}
	return fmt.Sprintf("set http_proxy/https_proxy and no_proxy=169.254.169.254 as Environment= lines of %s "+
		"(`systemctl edit %s`), then `systemctl restart %s`", name, unit, unit)
}
