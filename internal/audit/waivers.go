package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Waiver accepts that a rule does not pass, for a reason.
type Waiver struct {
	Rule   string `yaml:"rule"`   // full XCCDF rule id
	Reason string `yaml:"reason"` // why it cannot pass on this design, or cannot be judged offline
	// OfflineOnly waives the rule only where the offline scan gave its result: the rule needs
	// the running machine (unit state, mounts, processes), which the booted scan judges.
	OfflineOnly bool   `yaml:"offline_only"`
	File        string `yaml:"-"` // the waiver file it comes from
}

// LoadWaivers reads waiver files (a YAML list of {rule, reason} each), in order; every problem
// of every file is reported at once.
func LoadWaivers(paths ...string) ([]Waiver, error) {
	var all []Waiver
	var problems []string
	seen := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrWaivers, err)
		}
		ws, probs := parseWaivers(p, data)
		problems = append(problems, probs...)
		for _, w := range ws {
			if at, dup := seen[w.Rule]; dup {
				problems = append(problems, fmt.Sprintf("%s: %s is already waived in %s", p, w.Rule, at))
				continue
			}
			seen[w.Rule] = p
			all = append(all, w)
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", ErrWaivers, strings.Join(problems, "\n  "))
	}
	return all, nil
}

// parseWaivers decodes one waiver file strictly (unknown fields rejected) and checks it.
func parseWaivers(file string, data []byte) ([]Waiver, []string) {
	var ws []Waiver
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&ws); err != nil && !errors.Is(err, io.EOF) {
		return nil, []string{fmt.Sprintf("%s: %v", file, err)}
	}
	var problems []string
	for i := range ws {
		w := &ws[i]
		w.File = file
		w.Rule, w.Reason = strings.TrimSpace(w.Rule), strings.TrimSpace(w.Reason)
		switch {
		case !strings.HasPrefix(w.Rule, "xccdf_") || !strings.Contains(w.Rule, "_rule_"):
			problems = append(problems, fmt.Sprintf("%s: [%d].rule: %q is not a full XCCDF rule id (xccdf_org.ssgproject.content_rule_...)", file, i, w.Rule))
		case w.Reason == "":
			problems = append(problems, fmt.Sprintf("%s: [%d].reason: %s is waived without a reason", file, i, w.Rule))
		}
	}
	return ws, problems
}
