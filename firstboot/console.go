package firstboot

import (
	"fmt"
	"io"
	"strings"
)

// Prefix starts every line the agent prints; the console is read by people and by the
// QEMU test harness.
const Prefix = "mantlet-firstboot: "

// console prints the agent's progress lines. It only ever gets paths, counts, names and
// error messages, never file contents or the config.
type console struct{ w io.Writer }

func (c console) printf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	// one event, one line: a newline inside a message must not forge another line
	msg = strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(msg)
	fmt.Fprintln(c.w, Prefix+msg)
}
