//go:build !linux

package agent

import (
	"errors"
	"log/slog"
	"sync/atomic"
)

// procEvents is the proc connector, which only Linux has.
type procEvents struct {
	up, closing    atomic.Bool
	received, lost atomic.Uint64
}

func startProcEvents(*procCache, *slog.Logger) (*procEvents, error) {
	return nil, errors.New("proc connector: not linux")
}

func (e *procEvents) close() error { return nil }
