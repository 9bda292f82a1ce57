package qemu

import "errors"

// Sentinel errors of the harness; the errors returned wrap them, so callers test with errors.Is.
var (
	// ErrExited reports that QEMU ended before what was being waited for happened.
	ErrExited = errors.New("qemu exited")
	// ErrTimeout reports that the console did not show a pattern in time.
	ErrTimeout = errors.New("timed out")
	// ErrProblem reports a kernel panic, oops, segfault, Go panic, OOM kill or systemd
	// ordering cycle on the console.
	ErrProblem = errors.New("problem on the console")
	// ErrNoFirmware reports that no OVMF code and variables pair was found.
	ErrNoFirmware = errors.New("no OVMF firmware found (install the ovmf package)")
	// ErrHostKey reports an SSH host key whose fingerprint was not expected.
	ErrHostKey = errors.New("unexpected ssh host key")
)
