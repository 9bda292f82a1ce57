package pipeline

import (
	"context"
	"errors"
	"reflect"
	"testing"
)

type rec struct{ log []string }

type step struct {
	name string
	err  error
	hook func()
}

func (s step) Name() string { return s.name }
func (s step) Run(_ context.Context, r *rec) error {
	r.log = append(r.log, "run "+s.name)
	if s.hook != nil {
		s.hook()
	}
	return s.err
}
func (s step) Cleanup(r *rec) { r.log = append(r.log, "cleanup "+s.name) }

func TestRunCleansUpInReverseAfterFailure(t *testing.T) {
	boom := errors.New("boom")
	r := &rec{}
	var events []string
	err := Run(context.Background(), []Step[*rec]{step{name: "a"}, step{name: "b", err: boom}, step{name: "c"}}, r,
		func(e Event) { events = append(events, e.Step+" "+e.Status) })
	var se *StepError
	if !errors.As(err, &se) || se.Step != "b" || !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	want := []string{"run a", "run b", "cleanup b", "cleanup a"}
	if !reflect.DeepEqual(r.log, want) {
		t.Fatalf("log = %v, want %v", r.log, want)
	}
	wantEv := []string{"a started", "a finished", "b started", "b failed"}
	if !reflect.DeepEqual(events, wantEv) {
		t.Fatalf("events = %v, want %v", events, wantEv)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r := &rec{}
	err := Run(ctx, []Step[*rec]{step{name: "a", hook: cancel}, step{name: "b"}}, r, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	want := []string{"run a", "cleanup a"}
	if !reflect.DeepEqual(r.log, want) {
		t.Fatalf("log = %v, want %v", r.log, want)
	}
}

func TestRunAllCleanupsOnSuccess(t *testing.T) {
	r := &rec{}
	if err := Run(context.Background(), []Step[*rec]{step{name: "a"}, step{name: "b"}}, r, nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"run a", "run b", "cleanup b", "cleanup a"}
	if !reflect.DeepEqual(r.log, want) {
		t.Fatalf("log = %v", r.log)
	}
}
