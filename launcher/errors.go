package launcher

import (
	"errors"
	"fmt"
)

// Exit statuses of a launch that did not run the workload's command, as
// docker and the POSIX shell use them.
const (
	// ExitLaunchError is a launcher error: a bad flag value, a missing
	// root filesystem, a name in use, a failed setup step.
	ExitLaunchError = 125
	// ExitCannotExecute is a command found but not executable.
	ExitCannotExecute = 126
	// ExitNotFound is a command not found in the root filesystem.
	ExitNotFound = 127
	// ExitOOM is the status of a workload the OOM killer took (128+SIGKILL).
	ExitOOM = 137
)

// Error is a launch failure with the exit status nsagent reports for it.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func launchErr(code int, format string, a ...any) error {
	return &Error{Code: code, Err: fmt.Errorf(format, a...)}
}

// ExitCode returns the exit status for err: its own for an *Error, else
// ExitLaunchError.
func ExitCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitLaunchError
}
