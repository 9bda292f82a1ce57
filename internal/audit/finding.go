package audit

import "fmt"

// Finding is one problem a component check found.
type Finding struct {
	Check   string // sshd, docker, sudoers, keys
	Subject string // the setting or file
	Msg     string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s: %s", f.Check, f.Subject, f.Msg)
}
