package audit

import "errors"

// Sentinel errors of the package.
var (
	// ErrNoRootPartition: the disk image has no partition named root-x86-64.
	ErrNoRootPartition = errors.New("no partition named " + RootPartition)
	// ErrMountNotPermitted: the read-only bind mount the scan needs was refused (not root, or
	// a container without CAP_SYS_ADMIN).
	ErrMountNotPermitted = errors.New("mounting is not permitted: mantlet audit needs root (CAP_SYS_ADMIN) for a read-only bind mount of the tree")
	// ErrFailed: the image did not meet the profile's audit (a threshold, an unwaived failure
	// or a component check); the report says which.
	ErrFailed = errors.New("audit failed")
	// ErrWaivers: the waiver file is not valid.
	ErrWaivers = errors.New("invalid waivers")
)
