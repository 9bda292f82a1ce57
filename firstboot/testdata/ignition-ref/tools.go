//go:build tools

// Package ignitionref pins the reference Ignition (github.com/coreos/ignition/v2, its main
// package internal) that the conformance test builds: go build -C this directory. A
// module of its own, so that the main go.mod does not take Ignition's platform
// dependencies.
package ignitionref

import _ "github.com/coreos/ignition/v2/internal"
