// Package pipeline runs a list of named steps over one typed state value. Every step that
// started gets its Cleanup, in reverse order, also after a failure or a cancel.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Step is one named unit of work. Cleanup undoes what Run left behind that must not outlive
// the pipeline (temporary files, mounts, processes); it runs even when Run failed.
type Step[S any] interface {
	Name() string
	Run(ctx context.Context, state S) error
	Cleanup(state S)
}

// Event is what a Reporter hears: a step started, finished or failed.
type Event struct {
	Step    string        `json:"step"`
	Index   int           `json:"index"` // 1-based
	Total   int           `json:"total"`
	Status  string        `json:"status"` // started, finished, failed
	Elapsed time.Duration `json:"elapsed_ns,omitempty"`
	Err     string        `json:"error,omitempty"`
}

// Reporter receives progress events; nil reports nothing.
type Reporter func(Event)

// StepError names the step that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// Run runs the steps in order until one fails or ctx is done, then cleans up every step
// that started, last first.
func Run[S any](ctx context.Context, steps []Step[S], state S, report Reporter) error {
	if report == nil {
		report = func(Event) {}
	}
	started := 0
	var runErr error
	for i, st := range steps {
		if err := ctx.Err(); err != nil {
			runErr = &StepError{Step: st.Name(), Err: err}
			break
		}
		started = i + 1
		report(Event{Step: st.Name(), Index: i + 1, Total: len(steps), Status: "started"})
		begin := time.Now()
		err := st.Run(ctx, state)
		ev := Event{Step: st.Name(), Index: i + 1, Total: len(steps), Status: "finished", Elapsed: time.Since(begin)}
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if err != nil {
			ev.Status, ev.Err = "failed", err.Error()
			report(ev)
			runErr = &StepError{Step: st.Name(), Err: err}
			break
		}
		report(ev)
	}
	for i := started - 1; i >= 0; i-- {
		steps[i].Cleanup(state)
	}
	return runErr
}

// Names lists the step names, in order.
func Names[S any](steps []Step[S]) []string {
	names := make([]string, len(steps))
	for i, st := range steps {
		names[i] = st.Name()
	}
	return names
}

// ErrCanceled is returned by steps that notice a cancel themselves.
var ErrCanceled = errors.New("canceled")
