package nodeconfig

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/coreos/butane/config/common"
	fcos1_5 "github.com/coreos/butane/config/fcos/v1_5"
	"go.yaml.in/yaml/v3"
)

// IsButane tells a Butane file from an Ignition one by its name.
func IsButane(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".bu", ".yaml", ".yml":
		return true
	}
	return false
}

// FromButane translates an operator's Butane config (variant fcos, version 1.5.0: what the
// pinned Butane module translates to Ignition 3.4) into Ignition JSON for --merge. Local file
// references are refused: a node config carries everything inline.
func FromButane(data []byte) ([]byte, error) {
	var head struct {
		Variant string `yaml:"variant"`
		Version string `yaml:"version"`
	}
	if err := yaml.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("butane: %w", err)
	}
	if head.Variant != "fcos" || head.Version != "1.5.0" {
		return nil, fmt.Errorf("butane: variant %q version %q: only variant fcos, version 1.5.0 is supported", head.Variant, head.Version)
	}
	out, rep, err := fcos1_5.ToIgn3_4Bytes(data, common.TranslateBytesOptions{})
	if err != nil {
		return nil, fmt.Errorf("butane (variant fcos, version 1.5.0): %w", err)
	}
	if rep.IsFatal() {
		return nil, fmt.Errorf("butane: %s", strings.TrimSpace(rep.String()))
	}
	return out, nil
}
