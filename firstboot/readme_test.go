package firstboot

import (
	_ "embed"
	"strings"
	"testing"

	"github.com/mantlet/mantlet/firstboot/providers"
)

//go:embed README.md
var readme string

// TestReadmeNamesEveryProvider fails when a provider is registered but not documented.
func TestReadmeNamesEveryProvider(t *testing.T) {
	for _, name := range providers.Names() {
		if !strings.Contains(readme, "| `"+name+"` |") {
			t.Errorf("README.md does not document provider %s", name)
		}
	}
}
