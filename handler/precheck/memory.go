package precheck

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
	"github.com/Azure/aadsshlogin-extension-linux/handler/sysroot"
)

// MaxRefusedMemTotalKiB is the largest MemTotal (from /proc/meminfo, in
// KiB) we refuse: 512 MiB.
//
// The public doc requires "at least 1 GB of memory". MemTotal is not the
// VM size's memory: it excludes what firmware and the kernel keep for
// themselves (kernel image, page structures, and a crash-kernel
// reservation where kdump is on), and it can never exceed the size's
// memory. A real 1 GiB Azure VM showed 842 MiB (README "Memory"), and
// RHEL 9's default crashkernel=1G-4G:192M takes 192 MiB more on 1–4 GiB
// sizes, leaving about 650 MiB: any fixed threshold between 1 GiB and those
// figures refuses real 1 GiB VMs (the former 900 MiB did). Only a size below
// 1 GiB can show 512 MiB or less (Standard_B1ls has 0.5 GiB), so that is the
// line.
const MaxRefusedMemTotalKiB = 512 * 1024

// Memory returns a failure.LowMemory error when the machine has less than
// 1 GB of memory (see MaxRefusedMemTotalKiB), and the total it found in bytes.
func Memory(root sysroot.Root) (uint64, error) {
	data, err := root.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read memory size: %w", err)
	}
	kib, err := ParseMemTotal(data)
	if err != nil {
		return 0, fmt.Errorf("/proc/meminfo: %w", err)
	}
	total := kib * 1024
	if kib <= MaxRefusedMemTotalKiB {
		return total, failure.New(failure.LowMemory,
			"the VM has %d MiB of memory (MemTotal in /proc/meminfo) but Microsoft Entra login needs a VM with at least 1 GB "+
				"(a 1 GiB size shows more than %d MiB); resize the VM to a size with 1 GB or more, for example "+
				"`az vm resize -g <rg> -n <vm> --size Standard_B1s`, "+failure.SetAgain,
			kib/1024, MaxRefusedMemTotalKiB/1024)
	}
	return total, nil
}

// errNoMemTotal is returned when meminfo has no usable MemTotal line.
var errNoMemTotal = errors.New("no MemTotal line")

// ParseMemTotal returns the MemTotal value of a /proc/meminfo text in KiB.
// The kernel prints "MemTotal:  <n> kB"; a value without a unit is taken as
// KiB too, any other unit is an error.
func ParseMemTotal(data []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "MemTotal" {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || len(fields) > 2 {
			return 0, fmt.Errorf("malformed MemTotal line %q", sc.Text())
		}
		if len(fields) == 2 && !strings.EqualFold(fields[1], "kB") {
			return 0, fmt.Errorf("MemTotal unit %q, want kB", fields[1])
		}
		n, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("MemTotal value: %w", err)
		}
		if n > (1<<64-1)/1024 {
			return 0, fmt.Errorf("MemTotal %d kB is out of range", n)
		}
		return n, nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errNoMemTotal
}
