package qemu

import (
	"embed"
	"slices"
	"strings"
	"testing"
)

//go:embed testdata/*.txt
var consoles embed.FS

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := consoles.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestScan(t *testing.T) {
	type found struct {
		kind ProblemKind
		line int
	}
	tests := []struct {
		file string
		want []found
	}{
		// The command line with panic=30 and oops=panic is printed twice before the panic;
		// the closing "---[ end Kernel panic" banner is the same panic.
		{"kernel-panic.txt", []found{{KernelPanic, 7}}},
		{"go-panic.txt", []found{{GoPanic, 3}}},
		{"oom.txt", []found{{OOMKill, 1}, {OOMKill, 3}}},
		{"oops-segfault-cycle.txt", []found{{KernelOops, 1}, {KernelOops, 3}, {KernelOops, 4}, {Segfault, 5}, {OrderingCycle, 6}}},
		{"benign.txt", nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var got []found
			for _, p := range Scan(fixture(t, tt.file)) {
				got = append(got, found{p.Kind, p.Line})
				if strings.ContainsAny(p.Text, "\r\x1b") {
					t.Errorf("problem text %q not cleaned", p.Text)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Scan = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScanGoPanicNeedsAGoroutineTrace(t *testing.T) {
	tests := []struct {
		name    string
		console string
		want    int
	}{
		{"message mentioning panic", "app: recovered from panic: retrying\nok\n", 0},
		{"trace too far away", "panic: boom\n" + strings.Repeat("x\n", goPanicWindow+1) + "goroutine 1 [running]:\n", 0},
		{"fatal error with trace", "fatal error: all goroutines are asleep - deadlock!\n\ngoroutine 1 [chan receive]:\n", 1},
		{"nested panic counted once", "panic: a [recovered]\n\tpanic: b\n\ngoroutine 7 [running]:\n", 1},
		{"panic=30 is a kernel option", "Kernel command line: panic=30\ngoroutine 1 [running]:\n", 0},
	}
	for _, tt := range tests {
		if got := Scan(tt.console); len(got) != tt.want {
			t.Errorf("%s: Scan = %v, want %d problems", tt.name, got, tt.want)
		}
	}
}

func TestCleanLineStripsEscapes(t *testing.T) {
	in := "\x1b[2J\x1b[01;01H\x1b[=3hBdsDxe: failed to load Boot0001\r"
	if got := cleanLine(in); got != "BdsDxe: failed to load Boot0001" {
		t.Errorf("cleanLine = %q", got)
	}
}

func TestProblemString(t *testing.T) {
	p := Problem{Kind: KernelPanic, Line: 7, Text: "Kernel panic - not syncing: x"}
	if got := p.String(); got != "kernel panic at console line 7: Kernel panic - not syncing: x" {
		t.Errorf("String = %q", got)
	}
}
