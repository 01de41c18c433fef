package main

import (
	"strconv"
	"strings"
)

// ParseGoBench reads `go test -bench -benchmem` output (several packages).
func ParseGoBench(out string) []GoBench {
	var res []GoBench
	pkg := ""
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := GoBench{Pkg: shortPkg(pkg), Name: trimProcs(f[0]), N: n}
		ok := false
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			switch f[i+1] {
			case "ns/op":
				b.NsPerOp, ok = v, true
			case "MB/s":
				b.MBPerS = v
			case "B/op":
				b.BytesPerOp = int64(v)
			case "allocs/op":
				b.AllocsPerOp = int64(v)
			}
		}
		if ok {
			res = append(res, b)
		}
	}
	return res
}

// trimProcs drops the -GOMAXPROCS suffix (BenchmarkX-2 → BenchmarkX).
func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

func shortPkg(p string) string {
	return strings.TrimPrefix(p, "github.com/Azure/aadsshlogin-extension-linux/")
}
