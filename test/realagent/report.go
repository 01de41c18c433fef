package realagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Report is what the agent would upload for our extension after a goal
// state: the handler's entry of the status blob (wire.vm_status_to_v1).
type Report struct {
	// AgentVersion is azurelinuxagent's AGENT_VERSION.
	AgentVersion string
	// Handler is our extension's handler status.
	Handler HandlerStatus
	// Commands are the handler commands the agent launched, in order, as the
	// agent logged them.
	Commands []Launch
	// Errors are the error lines the agent logged while processing the goal
	// state (e.g. an uninstall failure it swallows).
	Errors []string
	// StatusFiles is the agent parser's verdict on every status file of the
	// handler present after the goal state.
	StatusFiles []StatusFile
	// Raw is the whole status blob.
	Raw json.RawMessage
}

// StatusFile is the agent's verdict on one of our status files: Error is
// set when the agent would reject it (schema, 128 KiB, unknown status).
type StatusFile struct {
	File   string `json:"file"`
	Size   int    `json:"size"`
	Status string `json:"status"`
	Error  string `json:"error"`
}

// StatusErrors lists the status files the agent's parser rejects.
func (r Report) StatusErrors() []string {
	var out []string
	for _, f := range r.StatusFiles {
		if f.Error != "" {
			out = append(out, f.File+": "+f.Error)
		}
	}
	return out
}

// Launch is one command the agent launched: the command line and the
// environment variables the agent added for it.
type Launch struct {
	Cmd string            `json:"cmd"`
	Env map[string]string `json:"env"`
}

// Verb is the handler command ("install", "enable", …): the last word of Cmd.
func (c Launch) Verb() string {
	f := strings.Fields(c.Cmd)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}

// Version is the handler version whose folder the command ran from.
func (c Launch) Version() string {
	i := strings.Index(c.Cmd, Name+"-")
	if i < 0 {
		return ""
	}
	rest := c.Cmd[i+len(Name)+1:]
	v, _, _ := strings.Cut(rest, "/")
	return v
}

// HandlerStatus is one handlerAggregateStatus entry.
type HandlerStatus struct {
	Name    string
	Version string
	// Status is Ready or NotReady; Code and Message are the handler-level
	// ones (set by the agent, e.g. 1007 and "Non-zero exit code: …").
	Status  string
	Code    int
	Message string
	// Seq and Extension are the reported runtime settings status; nil when
	// the agent does not report the extension's status file.
	Seq       *int
	Extension *ExtensionStatus
}

// ExtensionStatus is the settingsStatus the agent read from our status file.
type ExtensionStatus struct {
	Operation string
	Status    string
	Code      int
	Message   string
	Substatus []Substatus
}

// Substatus is one substatus entry.
type Substatus struct {
	Name, Status, Message string
	Code                  int
}

// Summary is a one-line description for transcripts.
func (h HandlerStatus) Summary() string {
	s := fmt.Sprintf("handler %s %s code=%d %q", h.Version, h.Status, h.Code, firstLine(h.Message))
	if h.Extension != nil {
		seq := -1
		if h.Seq != nil {
			seq = *h.Seq
		}
		s += fmt.Sprintf("; extension seq=%d %s %s code=%d %q", seq, h.Extension.Operation, h.Extension.Status,
			h.Extension.Code, h.Extension.Message)
	} else {
		s += "; no extension status reported"
	}
	return s
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

type v1Message struct {
	Message string `json:"message"`
}

type v1Blob struct {
	Aggregate struct {
		Handlers []struct {
			Name             string     `json:"handlerName"`
			Version          string     `json:"handlerVersion"`
			Status           string     `json:"status"`
			Code             int        `json:"code"`
			FormattedMessage *v1Message `json:"formattedMessage"`
			Runtime          *struct {
				Seq      *int `json:"sequenceNumber"`
				Settings struct {
					Status struct {
						Operation        string    `json:"operation"`
						Status           string    `json:"status"`
						Code             int       `json:"code"`
						FormattedMessage v1Message `json:"formattedMessage"`
						Substatus        []struct {
							Name             string    `json:"name"`
							Status           string    `json:"status"`
							Code             int       `json:"code"`
							FormattedMessage v1Message `json:"formattedMessage"`
						} `json:"substatus"`
					} `json:"status"`
				} `json:"settingsStatus"`
			} `json:"runtimeSettingsStatus"`
		} `json:"handlerAggregateStatus"`
	} `json:"aggregateStatus"`
}

// ParseReport decodes the driver's output.
func ParseReport(data []byte) (Report, error) {
	var out struct {
		AgentVersion string          `json:"agentVersion"`
		Status       json.RawMessage `json:"status"`
		Commands     []Launch        `json:"commands"`
		Errors       []string        `json:"errors"`
		StatusFiles  []StatusFile    `json:"statusFiles"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return Report{}, fmt.Errorf("agent report: %w", err)
	}
	var blob v1Blob
	if err := json.Unmarshal(out.Status, &blob); err != nil {
		return Report{}, fmt.Errorf("agent status blob: %w", err)
	}
	r := Report{AgentVersion: out.AgentVersion, Commands: out.Commands, Errors: out.Errors, StatusFiles: out.StatusFiles, Raw: out.Status}
	if r.AgentVersion == "" {
		return r, errors.New("agent report: no agent version")
	}
	found := 0
	for _, h := range blob.Aggregate.Handlers {
		if h.Name != Name {
			continue
		}
		found++
		hs := HandlerStatus{Name: h.Name, Version: h.Version, Status: h.Status, Code: h.Code}
		if h.FormattedMessage != nil {
			hs.Message = h.FormattedMessage.Message
		}
		if rt := h.Runtime; rt != nil {
			st := rt.Settings.Status
			hs.Seq = rt.Seq
			hs.Extension = &ExtensionStatus{Operation: st.Operation, Status: st.Status, Code: st.Code, Message: st.FormattedMessage.Message}
			for _, s := range st.Substatus {
				hs.Extension.Substatus = append(hs.Extension.Substatus, Substatus{Name: s.Name, Status: s.Status, Code: s.Code, Message: s.FormattedMessage.Message})
			}
		}
		r.Handler = hs
	}
	switch {
	case found == 0:
		// The agent reports nothing for a handler without a HandlerStatus
		// (e.g. after uninstall): Handler stays zero.
	case found > 1:
		return r, fmt.Errorf("agent status blob: %d entries for %s", found, Name)
	}
	return r, nil
}

// Verbs lists the commands the agent ran as "version verb" strings.
func (r Report) Verbs() []string {
	var out []string
	for _, c := range r.Commands {
		out = append(out, c.Version()+" "+c.Verb())
	}
	return out
}
