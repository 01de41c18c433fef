package agentsim

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Package is one handler version: the zip the agent downloads.
type Package struct {
	// Zip is the path of the handler package.
	Zip string
	// Version is the handler version; empty means "take it from the zip
	// name" (see VersionFromZipName).
	Version string
}

var zipVersionRe = regexp.MustCompile(`[_-](\d+(?:\.\d+)*)\.zip$`)

// VersionFromZipName extracts the version from names like
// Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux__1.0.0.1.zip or
// aadsshlogin-1.0.0.1.zip.
func VersionFromZipName(path string) (string, bool) {
	m := zipVersionRe.FindStringSubmatch(filepath.Base(path))
	if m == nil {
		return "", false
	}
	return m[1], true
}

func (p Package) version() (string, error) {
	if p.Version != "" {
		return p.Version, nil
	}
	if v, ok := VersionFromZipName(p.Zip); ok {
		return v, nil
	}
	return "", fmt.Errorf("cannot tell the version of %s: name it <Publisher>.<Type>__<Version>.zip or pass the version explicitly", p.Zip)
}

// instance is one installed handler version (the agent's ExtHandlerInstance).
type instance struct {
	sim     *Simulator
	version string
}

func (in instance) baseDir() string {
	return filepath.Join(in.sim.opt.LibDir, in.sim.opt.HandlerName+"-"+in.version)
}
func (in instance) configDir() string { return filepath.Join(in.baseDir(), "config") }
func (in instance) statusDir() string { return filepath.Join(in.baseDir(), "status") }
func (in instance) zipPath() string {
	return filepath.Join(in.sim.opt.LibDir, in.sim.opt.HandlerName+"__"+in.version+".zip")
}
func (in instance) manifestPath() string { return filepath.Join(in.baseDir(), "HandlerManifest.json") }

func (in instance) loadManifest() (Manifest, error) {
	b, err := os.ReadFile(in.manifestPath())
	if err != nil {
		return Manifest{}, fmt.Errorf("load manifest of %s: %w", in.version, err)
	}
	return ParseManifest(b)
}

// download copies the package to <lib>/<Name>__<Version>.zip and extracts
// it into the base dir (the agent's download()).
func (in instance) download(zipPath string) error {
	data, err := os.ReadFile(zipPath)
	if err != nil {
		return fmt.Errorf("read package: %w", err)
	}
	if err := os.MkdirAll(in.sim.opt.LibDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(in.zipPath(), data, 0o644); err != nil {
		return fmt.Errorf("cache package: %w", err)
	}
	return extractZip(data, in.baseDir())
}

// extractZip unpacks like Python's ZipFile.extractall: entry modes are not
// applied (files get 0644 before the agent adds u+x), symlinks become
// regular files, absolute and ".." components are dropped.
func extractZip(data []byte, dst string) error {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return fmt.Errorf("package is not a valid zip: %w", err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, f := range zr.File {
		var parts []string
		for _, p := range strings.Split(strings.ReplaceAll(f.Name, `\`, "/"), "/") {
			if p == "" || p == "." || p == ".." {
				continue
			}
			parts = append(parts, p)
		}
		if len(parts) == 0 {
			continue
		}
		target := filepath.Join(append([]string{dst}, parts...)...)
		if strings.HasSuffix(f.Name, "/") {
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("unzip %s: %w", f.Name, err)
		}
		out, err := os.OpenFile(target, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			rc.Close()
			return err
		}
		_, cerr := io.Copy(out, rc)
		rc.Close()
		if err := out.Close(); cerr == nil {
			cerr = err
		}
		if cerr != nil {
			return fmt.Errorf("unzip %s: %w", f.Name, cerr)
		}
	}
	return nil
}

// initialize is the agent's initialize(): u+x on all files, locate and
// re-save HandlerManifest.json, mkdir status/ config/ events/, write
// HandlerEnvironment.json.
func (in instance) initialize() (Manifest, error) {
	base := in.baseDir()
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		return os.Chmod(p, st.Mode().Perm()|0o100)
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("add u+x: %w", err)
	}
	found, err := searchFile(base, "HandlerManifest.json")
	if err != nil {
		return Manifest{}, err
	}
	if found == "" {
		return Manifest{}, fmt.Errorf("HandlerManifest.json not found in the package (error 1002): put it at the zip root")
	}
	b, err := os.ReadFile(found)
	if err != nil {
		return Manifest{}, err
	}
	b = StripBOM(b)
	if err := os.WriteFile(in.manifestPath(), b, 0o644); err != nil {
		return Manifest{}, err
	}
	man, err := ParseManifest(b)
	if err != nil {
		return Manifest{}, fmt.Errorf("%w (error 1003)", err)
	}
	for _, d := range []string{in.statusDir(), in.configDir(), in.sim.eventsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return Manifest{}, err
		}
	}
	env, err := in.handlerEnvironment()
	if err != nil {
		return Manifest{}, err
	}
	if err := os.WriteFile(filepath.Join(base, "HandlerEnvironment.json"), env, 0o644); err != nil {
		return Manifest{}, err
	}
	return man, nil
}

// handlerEnvironment renders HandlerEnvironment.json byte-for-byte as the
// agent's json.dumps does.
func (in instance) handlerEnvironment() ([]byte, error) {
	type kv struct{ k, v string }
	fields := []kv{
		{"logFolder", in.sim.opt.LogDir},
		{"configFolder", in.configDir()},
		{"statusFolder", in.statusDir()},
		{"heartbeatFile", filepath.Join(in.baseDir(), "heartbeat.log")},
		{"eventsFolder", in.sim.eventsDir()},
		{"eventsFolder_preview", in.sim.eventsDir()},
	}
	var b bytes.Buffer
	b.WriteString(`[{"name": `)
	pyString(&b, in.sim.opt.HandlerName)
	b.WriteString(`, "version": 1.0, "handlerEnvironment": {`)
	for i, f := range fields {
		if i > 0 {
			b.WriteString(", ")
		}
		pyString(&b, f.k)
		b.WriteString(": ")
		pyString(&b, f.v)
	}
	b.WriteString("}}]")
	if !json.Valid(b.Bytes()) {
		return nil, fmt.Errorf("internal error: HandlerEnvironment.json is not valid JSON")
	}
	return b.Bytes(), nil
}

// searchFile walks top-down like os.walk: the files of a directory are
// checked before its subdirectories.
func searchFile(dir, name string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var subdirs []string
	for _, e := range entries {
		if e.IsDir() {
			subdirs = append(subdirs, e.Name())
		} else if e.Name() == name {
			return filepath.Join(dir, name), nil
		}
	}
	sort.Strings(subdirs)
	for _, s := range subdirs {
		if p, err := searchFile(filepath.Join(dir, s), name); p != "" || err != nil {
			return p, err
		}
	}
	return "", nil
}
