package audit

import (
	"encoding/json"
	"io"
	"sort"
)

// JSONSchema names the layout of WriteJSON's document; it changes when a field changes
// meaning or goes away.
const JSONSchema = "mantlet.audit/v1"

type jsonReport struct {
	Schema     string          `json:"schema"`
	OK         bool            `json:"ok"`
	Benchmarks []jsonBenchmark `json:"benchmarks"`
	Components []jsonFinding   `json:"components"`        // component checks that failed
	Waived     []jsonFinding   `json:"waived_components"` // accepted by the profiles, with the reason
	Stale      []jsonWaiver    `json:"stale_waivers"`
	Unused     []jsonWaiver    `json:"unused_waivers"`
}

type jsonBenchmark struct {
	Name         string         `json:"name"`
	Title        string         `json:"title"`
	Profile      string         `json:"profile"`
	OK           bool           `json:"ok"`
	Score        float64        `json:"score"`
	Min          int            `json:"min"`
	Counts       map[string]int `json:"counts"`
	OfflineScore float64        `json:"offline_score"`
	BootedScore  *float64       `json:"booted_score,omitempty"` // absent when not booted
	Waived       []jsonRule     `json:"waived"`
	Unwaived     []jsonRule     `json:"unwaived"`
	HTML         string         `json:"html"`
}

type jsonRule struct {
	Rule   string `json:"rule"`
	Result string `json:"result"`
	From   string `json:"judged,omitempty"` // offline or booted
	Reason string `json:"reason,omitempty"`
}

type jsonFinding struct {
	Check   string `json:"check"`
	Subject string `json:"subject"`
	Message string `json:"message"`
}

type jsonWaiver struct {
	Rule   string `json:"rule"`
	File   string `json:"file"`
	Reason string `json:"reason"`
}

// WriteJSON writes the report as one JSON document (schema JSONSchema).
func WriteJSON(w io.Writer, rep *Report) error {
	out := jsonReport{Schema: JSONSchema, OK: rep.OK(), Benchmarks: []jsonBenchmark{}, Components: findingsJSON(rep.Components),
		Waived: findingsJSON(rep.Waived), Stale: waiversJSON(rep.Stale), Unused: waiversJSON(rep.Unused)}
	for i := range rep.Benchmarks {
		br := &rep.Benchmarks[i]
		b := jsonBenchmark{Name: br.Benchmark.Name, Title: br.Benchmark.Title, Profile: br.Benchmark.Profile, OK: br.OK(),
			Min: br.Min, HTML: br.HTML, Waived: []jsonRule{}, Unwaived: []jsonRule{}, Counts: map[string]int{}}
		if br.Results != nil {
			b.Score, b.Counts = br.Results.Score(), br.Results.Counts
		}
		if br.Offline != nil {
			b.OfflineScore = br.Offline.Score()
		}
		if br.Booted != nil {
			s := br.Booted.Score()
			b.BootedScore = &s
		}
		for _, wr := range br.Waived {
			b.Waived = append(b.Waived, jsonRule{Rule: wr.Rule, Result: wr.Result, From: judged(br.Results, wr.Rule), Reason: wr.Waiver.Reason})
		}
		for _, rr := range br.Unwaived {
			b.Unwaived = append(b.Unwaived, jsonRule{Rule: rr.Rule, Result: rr.Result, From: judged(br.Results, rr.Rule)})
		}
		out.Benchmarks = append(out.Benchmarks, b)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func judged(r *Results, rule string) string {
	if r == nil || r.From == nil {
		return ""
	}
	return r.From[rule]
}

func findingsJSON(fs []Finding) []jsonFinding {
	out := []jsonFinding{}
	for _, f := range fs {
		out = append(out, jsonFinding{Check: f.Check, Subject: f.Subject, Message: f.Msg})
	}
	return out
}

func waiversJSON(ws []Waiver) []jsonWaiver {
	out := []jsonWaiver{}
	for _, w := range ws {
		out = append(out, jsonWaiver{Rule: w.Rule, File: w.File, Reason: w.Reason})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rule < out[j].Rule })
	return out
}
