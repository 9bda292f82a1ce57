package pipeline

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"
)

// srec is a state steps may write at the same time.
type srec struct {
	mu  sync.Mutex
	log []string
}

func (r *srec) add(s string) { r.mu.Lock(); r.log = append(r.log, s); r.mu.Unlock() }

type pstep struct {
	name    string
	run     func(ctx context.Context) error
	outcome *Outcome
}

func (s pstep) Name() string { return s.name }
func (s pstep) Run(ctx context.Context, r *srec) error {
	r.add("run " + s.name)
	if s.run != nil {
		return s.run(ctx)
	}
	return nil
}
func (s pstep) Cleanup(r *srec) { r.add("cleanup " + s.name) }

type rstep struct{ pstep }

func (s rstep) Outcome(*srec) Outcome { return *s.outcome }

// Both steps of a group must be running at once for either to finish.
func TestParallelRunsTogether(t *testing.T) {
	var both sync.WaitGroup
	both.Add(2)
	meet := func(context.Context) error {
		both.Done()
		done := make(chan struct{})
		go func() { both.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the other step of the group never ran at the same time")
		}
	}
	r := &srec{}
	var events []string
	err := Run(context.Background(), []Step[*srec]{pstep{name: "a"}, Parallel[*srec](pstep{name: "b", run: meet}, pstep{name: "c", run: meet}), pstep{name: "d"}}, r,
		func(e Event) { events = append(events, e.Step+" "+e.Status) })
	if err != nil {
		t.Fatal(err)
	}
	if r.log[0] != "run a" || r.log[3] != "run d" || r.log[4] != "cleanup d" || r.log[7] != "cleanup a" {
		t.Fatalf("order: %v", r.log)
	}
	if got := Names([]Step[*srec]{pstep{name: "a"}, Parallel[*srec](pstep{name: "b"}, pstep{name: "c"})}); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("names: %v", got)
	}
	sort.Strings(events)
	if len(events) != 8 {
		t.Fatalf("events: %v", events)
	}
}

// A failing step of a group cancels the other; the error names the one that failed, and every
// step that started is cleaned up.
func TestParallelFailureCancelsTheOther(t *testing.T) {
	boom := errors.New("boom")
	r := &srec{}
	err := Run(context.Background(), []Step[*srec]{
		Parallel[*srec](
			pstep{name: "slow", run: func(ctx context.Context) error {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(10 * time.Second):
					return nil
				}
			}},
			pstep{name: "bad", run: func(context.Context) error { return boom }}),
		pstep{name: "never"}}, r, nil)
	var se *StepError
	if !errors.As(err, &se) || se.Step != "bad" || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	sort.Strings(r.log)
	want := []string{"cleanup bad", "cleanup slow", "run bad", "run slow"}
	if !reflect.DeepEqual(r.log, want) {
		t.Fatalf("log = %v", r.log)
	}
}

func TestSequentialOption(t *testing.T) {
	r := &srec{}
	err := RunWith(context.Background(), []Step[*srec]{Parallel[*srec](pstep{name: "a"}, pstep{name: "b"})}, r, nil, Options{Sequential: true})
	if err != nil || !reflect.DeepEqual(r.log, []string{"run a", "run b", "cleanup b", "cleanup a"}) {
		t.Fatalf("%v %v", r.log, err)
	}
}

func TestStopSkipsTheRest(t *testing.T) {
	r := &srec{}
	var events []Event
	o := &Outcome{Note: "up to date"}
	err := Run(context.Background(), []Step[*srec]{
		rstep{pstep{name: "check", run: func(context.Context) error { return ErrStop }, outcome: o}},
		pstep{name: "build"}, Parallel[*srec](pstep{name: "x"}, pstep{name: "y"})}, r, func(e Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.log, []string{"run check", "cleanup check"}) {
		t.Fatalf("log: %v", r.log)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Step+" "+e.Status+" "+e.Note)
	}
	want := []string{"check started ", "check finished up to date", "build skipped ", "x skipped ", "y skipped "}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events: %q", got)
	}
}

func TestOutcomeReported(t *testing.T) {
	var ev []Event
	o := &Outcome{Cached: true, Key: "abc"}
	if err := Run(context.Background(), []Step[*srec]{rstep{pstep{name: "rootfs", outcome: o}}}, &srec{}, func(e Event) { ev = append(ev, e) }); err != nil {
		t.Fatal(err)
	}
	if e := ev[1]; e.Status != "finished" || !e.Cached || e.Key != "abc" {
		t.Fatalf("event: %+v", e)
	}
}
