package command

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestExecCapturesStdoutAndStderr(t *testing.T) {
	out, err := Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", "echo out; echo err >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "out\n" {
		t.Fatalf("stdout = %q", out)
	}
	_, err = Exec{}.Run(context.Background(), Cmd{Name: "sh", Args: []string{"-c", "echo boom >&2; exit 3"}})
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if ce.Stderr != "boom" || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("err = %v", err)
	}
}

func TestTailBufferKeepsTail(t *testing.T) {
	b := &tailBuffer{max: 4}
	b.Write([]byte("abc"))
	b.Write([]byte("defg"))
	if b.String() != "defg" {
		t.Fatalf("got %q", b.String())
	}
}

func TestRequireNamesMissing(t *testing.T) {
	err := Require("sh", "mantlet-no-such-tool")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "mantlet-no-such-tool") || strings.Contains(err.Error(), "sh,") {
		t.Fatalf("err = %v", err)
	}
}
