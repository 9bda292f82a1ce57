package nodeconfig

import (
	"github.com/coreos/ignition/v2/config/v3_5"
	"github.com/coreos/ignition/v2/config/v3_5/types"
	"github.com/coreos/vcontext/report"
)

func v3_5ParseCompatible(raw []byte) (types.Config, report.Report, error) {
	return v3_5.ParseCompatibleVersion(raw)
}

// mergeConfigs is Ignition's own merge: child's fields win, lists merge by key.
func mergeConfigs(parent, child types.Config) types.Config {
	return v3_5.Merge(parent, child)
}
