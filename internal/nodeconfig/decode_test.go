package nodeconfig

import (
	"encoding/base64"
	"strings"
	"testing"
)

func decodeSource(t *testing.T, src string) string {
	t.Helper()
	b64, ok := strings.CutPrefix(src, "data:;base64,")
	if !ok {
		t.Fatalf("source %.20s is not base64 data", src)
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
