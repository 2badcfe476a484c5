package launcher

import (
	"syscall"
	"time"
)

const syscallEBUSY = syscall.EBUSY

func sleepMillis(n int) { time.Sleep(time.Duration(n) * time.Millisecond) }
