package precheck

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/Azure/aadsshlogin-extension-linux/handler/failure"
)

const meminfoB1s = `MemTotal:         935132 kB
MemFree:          254344 kB
MemAvailable:     640128 kB
Buffers:           28572 kB
`

func TestParseMemTotal(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{name: "kernel format", in: meminfoB1s, want: 935132},
		{name: "not first line", in: "MemFree: 1 kB\nMemTotal: 2048 kB\n", want: 2048},
		{name: "no unit", in: "MemTotal: 2048\n", want: 2048},
		{name: "no newline", in: "MemTotal:\t16333620 kB", want: 16333620},
		{name: "zero", in: "MemTotal: 0 kB\n", want: 0},
		{name: "missing", in: "MemFree: 1 kB\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "bad unit", in: "MemTotal: 1 MB\n", wantErr: true},
		{name: "negative", in: "MemTotal: -1 kB\n", wantErr: true},
		{name: "no value", in: "MemTotal:\n", wantErr: true},
		{name: "extra fields", in: "MemTotal: 1 kB x\n", wantErr: true},
		{name: "overflow after scaling", in: "MemTotal: 18446744073709551615 kB\n", wantErr: true},
		{name: "prefix key is not MemTotal", in: "MemTotalX: 5 kB\nMemTotal: 6 kB\n", want: 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMemTotal([]byte(tc.in))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMemory(t *testing.T) {
	tests := []struct {
		name      string
		meminfo   *string
		wantBytes uint64
		wantCode  failure.Code
		wantMsg   []string
	}{
		// Real figures (README "Memory"): MemTotal never exceeds the VM's
		// memory, so only a size below 1 GiB can show 512 MiB or less.
		{name: "1 GiB VM after kernel reservations", meminfo: ptr(meminfoB1s), wantBytes: 935132 * 1024},
		// free -h "842Mi" on an Azure VM (knkrn5/Programming-Concepts#63):
		// more than the retired 768 MB A0, so a 1 GiB size.
		{name: "1 GiB Azure VM showing 842 MiB", meminfo: ptr("MemTotal:         862208 kB\n"), wantBytes: 862208 * 1024},
		// The same VM with RHEL 9's default crashkernel=1G-4G:192M.
		{name: "1 GiB VM with RHEL 9 crashkernel", meminfo: ptr("MemTotal:         665600 kB\n"), wantBytes: 665600 * 1024},
		{name: "just above 512 MiB", meminfo: ptr("MemTotal: 524289 kB\n"), wantBytes: 524289 * 1024},
		{
			name: "512 MiB is a 0.5 GiB size", meminfo: ptr("MemTotal: 524288 kB\n"), wantBytes: 524288 * 1024, wantCode: failure.LowMemory,
			wantMsg: []string{"512 MiB", "at least 1 GB", "Standard_B1s"},
		},
		{
			name: "0.5 GiB B1ls", meminfo: ptr("MemTotal: 432412 kB\n"), wantBytes: 432412 * 1024, wantCode: failure.LowMemory,
			wantMsg: []string{"422 MiB", "more than 512 MiB", "az vm resize"},
		},
		{name: "unreadable", wantCode: failure.Internal},
		{name: "garbage", meminfo: ptr("hello\n"), wantCode: failure.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{"/proc/": ""}
			if tc.meminfo != nil {
				files["/proc/meminfo"] = *tc.meminfo
			}
			got, err := Memory(tree(t, files))
			if diff := cmp.Diff(tc.wantCode, failure.CodeOf(err)); diff != "" {
				t.Fatalf("code (-want +got):\n%s\nerr: %v", diff, err)
			}
			if diff := cmp.Diff(tc.wantBytes, got); diff != "" {
				t.Errorf("bytes (-want +got):\n%s", diff)
			}
			checkMessage(t, failure.Message(err), tc.wantMsg, nil)
		})
	}
}

func ptr[T any](v T) *T { return &v }

func FuzzParseMemTotal(f *testing.F) {
	for _, s := range []string{meminfoB1s, "MemTotal: 1\n", "MemTotal: 1 MB", "", "MemTotal:", "\x00MemTotal: 3 kB\n", "MemTotal: 99999999999999999999 kB"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseMemTotal(data)
		if err != nil {
			if got != 0 {
				t.Fatalf("error %v with value %d", err, got)
			}
			return
		}
		// Invariants: the value scales to bytes without overflow, and the
		// input really has a MemTotal line carrying that number.
		if got > (1<<64-1)/1024 {
			t.Fatalf("value %d overflows when scaled", got)
		}
		if !strings.Contains(string(data), "MemTotal") || !strings.Contains(string(data), strconv.FormatUint(got, 10)) {
			t.Fatalf("value %d not found in input %q", got, data)
		}
	})
}
