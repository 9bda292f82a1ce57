// Package pipeline runs a list of named steps over one typed state value. Every step that
// started gets its Cleanup, in reverse order, also after a failure or a cancel. Steps that do
// not depend on each other can be grouped to run at the same time (Parallel).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Step is one named unit of work. Cleanup undoes what Run left behind that must not outlive
// the pipeline (temporary files, mounts, processes); it runs even when Run failed.
type Step[S any] interface {
	Name() string
	Run(ctx context.Context, state S) error
	Cleanup(state S)
}

// Outcome is what a step says about its work besides done: that it reused a cached result
// (and its key), or a note for people.
type Outcome struct {
	Cached bool
	Key    string
	Note   string
}

// Reporting is a step with an Outcome, asked after Run succeeded.
type Reporting[S any] interface {
	Outcome(state S) Outcome
}

// Event is what a Reporter hears: a step started, finished, failed or was skipped.
type Event struct {
	Step    string        `json:"step"`
	Index   int           `json:"index"` // 1-based
	Total   int           `json:"total"`
	Status  string        `json:"status"` // started, finished, failed, skipped
	Elapsed time.Duration `json:"elapsed_ns,omitempty"`
	Err     string        `json:"error,omitempty"`
	Cached  bool          `json:"cached,omitempty"`
	Key     string        `json:"key,omitempty"`
	Note    string        `json:"note,omitempty"`
}

// Reporter receives progress events; nil reports nothing. Run calls it from one goroutine
// at a time.
type Reporter func(Event)

// StepError names the step that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return fmt.Sprintf("step %s: %v", e.Step, e.Err) }
func (e *StepError) Unwrap() error { return e.Err }

// ErrStop, returned by a step, ends the pipeline successfully: the steps after it are
// reported as skipped (the work is already done, for example).
var ErrStop = errors.New("nothing left to do")

// Options change how Run runs.
type Options struct {
	// Sequential runs the steps of a Parallel group one after the other (to measure them).
	Sequential bool
}

// group is steps that run at the same time.
type group[S any] struct{ steps []Step[S] }

// Parallel makes one stage of steps that run at the same time: they must not depend on
// each other nor write the same parts of the state. Each is reported as a step of its own.
func Parallel[S any](steps ...Step[S]) Step[S] { return &group[S]{steps: steps} }

func (g *group[S]) Name() string {
	n := ""
	for i, s := range g.steps {
		if i > 0 {
			n += "+"
		}
		n += s.Name()
	}
	return n
}

// Run and Cleanup let a group be nested; Run of the pipeline runs its steps itself.
func (g *group[S]) Run(ctx context.Context, state S) error {
	for _, s := range g.steps {
		if err := s.Run(ctx, state); err != nil {
			return err
		}
	}
	return nil
}

func (g *group[S]) Cleanup(state S) {
	for i := len(g.steps) - 1; i >= 0; i-- {
		g.steps[i].Cleanup(state)
	}
}

// flatten lists the steps one by one, the stage each belongs to.
func flatten[S any](steps []Step[S]) (leaves []Step[S], stages [][]int) {
	for _, st := range steps {
		var idx []int
		if g, ok := st.(*group[S]); ok {
			for _, s := range g.steps {
				idx = append(idx, len(leaves))
				leaves = append(leaves, s)
			}
		} else {
			idx = append(idx, len(leaves))
			leaves = append(leaves, st)
		}
		stages = append(stages, idx)
	}
	return leaves, stages
}

// Run runs the steps in order until one fails or ctx is done, then cleans up every step
// that started, last first.
func Run[S any](ctx context.Context, steps []Step[S], state S, report Reporter) error {
	return RunWith(ctx, steps, state, report, Options{})
}

// RunWith is Run with options.
func RunWith[S any](ctx context.Context, steps []Step[S], state S, report Reporter, opts Options) error {
	var mu sync.Mutex
	emit := func(e Event) {
		if report != nil {
			mu.Lock()
			defer mu.Unlock()
			report(e)
		}
	}
	leaves, stages := flatten(steps)
	total := len(leaves)
	started := make([]bool, total)
	var runErr error
	stopped := -1
	for si, stage := range stages {
		if err := ctx.Err(); err != nil {
			runErr = &StepError{Step: leaves[stage[0]].Name(), Err: err}
			break
		}
		errs := make([]error, len(stage))
		if len(stage) == 1 || opts.Sequential {
			for j, i := range stage {
				started[i] = true
				if errs[j] = runOne(ctx, leaves[i], state, i, total, emit); errs[j] != nil {
					break
				}
			}
		} else {
			gctx, cancel := context.WithCancel(ctx)
			var wg sync.WaitGroup
			for j, i := range stage {
				started[i] = true
				wg.Add(1)
				go func() {
					defer wg.Done()
					if errs[j] = runOne(gctx, leaves[i], state, i, total, emit); errs[j] != nil {
						cancel() // the others' work is of no use now
					}
				}()
			}
			wg.Wait()
			cancel()
		}
		runErr = firstFailure(errs, stage, leaves)
		if runErr != nil {
			break
		}
		for _, err := range errs {
			if errors.Is(err, ErrStop) {
				stopped = si
			}
		}
		if stopped >= 0 {
			break
		}
	}
	if stopped >= 0 {
		for _, stage := range stages[stopped+1:] {
			for _, i := range stage {
				emit(Event{Step: leaves[i].Name(), Index: i + 1, Total: total, Status: "skipped"})
			}
		}
	}
	for i := total - 1; i >= 0; i-- {
		if started[i] {
			leaves[i].Cleanup(state)
		}
	}
	return runErr
}

// firstFailure is the error of the first step of a stage that failed on its own: a step
// canceled because another failed is not the cause.
func firstFailure[S any](errs []error, stage []int, leaves []Step[S]) error {
	var canceled error
	for j, err := range errs {
		if err == nil || errors.Is(err, ErrStop) {
			continue
		}
		se := &StepError{Step: leaves[stage[j]].Name(), Err: err}
		if !errors.Is(err, context.Canceled) {
			return se
		}
		if canceled == nil {
			canceled = se
		}
	}
	return canceled
}

func runOne[S any](ctx context.Context, st Step[S], state S, i, total int, emit func(Event)) error {
	emit(Event{Step: st.Name(), Index: i + 1, Total: total, Status: "started"})
	begin := time.Now()
	err := st.Run(ctx, state)
	ev := Event{Step: st.Name(), Index: i + 1, Total: total, Status: "finished", Elapsed: time.Since(begin)}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if err != nil && !errors.Is(err, ErrStop) {
		ev.Status, ev.Err = "failed", err.Error()
		emit(ev)
		return err
	}
	if r, ok := st.(Reporting[S]); ok {
		o := r.Outcome(state)
		ev.Cached, ev.Key, ev.Note = o.Cached, o.Key, o.Note
	}
	emit(ev)
	return err
}

// Names lists the step names, in order, the steps of a Parallel group one by one.
func Names[S any](steps []Step[S]) []string {
	leaves, _ := flatten(steps)
	names := make([]string, len(leaves))
	for i, st := range leaves {
		names[i] = st.Name()
	}
	return names
}

// ErrCanceled is returned by steps that notice a cancel themselves.
var ErrCanceled = errors.New("canceled")
