package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The proc connector's ABI (linux/connector.h, linux/cn_proc.h); x/sys/unix
// has the netlink family but not these.
const (
	cnIdxProc          = 1
	cnValProc          = 1
	procCnMcastListen  = 1
	procEventFork      = 0x00000001
	procEventExec      = 0x00000002
	procEventUID       = 0x00000004
	procEventGID       = 0x00000040
	procEventComm      = 0x00000200
	procEventExit      = 0x80000000
	procEventNonzeroEx = 0x20000000
	nlmsgHdrLen        = 16
	cnMsgLen           = 20
	procEventHdrLen    = 16 // what, cpu, timestamp_ns
)

// procEvents listens to the proc connector and marks in the cache every
// process that forked, exec'd, exited or changed uid, gid or comm.
type procEvents struct {
	fd       int
	cache    *procCache
	log      *slog.Logger
	closing  atomic.Bool
	done     chan struct{}
	up       atomic.Bool
	received atomic.Uint64
	lost     atomic.Uint64
}

// startProcEvents subscribes to the proc connector. It fails without
// CAP_NET_ADMIN or outside the host's network namespace, where the kernel
// offers no connector.
func startProcEvents(cache *procCache, log *slog.Logger) (*procEvents, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("open netlink connector socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return nil, fmt.Errorf("bind proc connector: %w", err)
	}
	// A burst of forks (a build, a container start) must not overflow the
	// socket; if it does anyway, the next scan reads every process.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20)
	// Wake up once a second so close does not wait on a blocked recv.
	tv := unix.Timeval{Sec: 1}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return nil, fmt.Errorf("proc connector timeout: %w", err)
	}
	msg := make([]byte, nlmsgHdrLen+cnMsgLen+4)
	ne := binary.NativeEndian
	ne.PutUint32(msg[0:], uint32(len(msg)))
	ne.PutUint16(msg[4:], unix.NLMSG_DONE)
	ne.PutUint32(msg[12:], uint32(unix.Getpid()))
	ne.PutUint32(msg[16:], cnIdxProc)
	ne.PutUint32(msg[20:], cnValProc)
	ne.PutUint16(msg[32:], 4)
	ne.PutUint32(msg[36:], procCnMcastListen)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("subscribe to proc connector: %w", err)
	}
	ok = true
	e := &procEvents{fd: fd, cache: cache, log: log, done: make(chan struct{})}
	e.up.Store(true)
	go e.loop()
	return e, nil
}

func (e *procEvents) loop() {
	defer close(e.done)
	buf := make([]byte, 64<<10)
	for !e.closing.Load() {
		n, _, err := unix.Recvfrom(e.fd, buf, 0)
		switch {
		case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			e.lost.Add(1)
			e.cache.lost()
			continue
		case err != nil:
			e.log.Warn("proc connector failed; processes are revalidated from their stat files", "err", err)
			e.up.Store(false)
			e.cache.lost()
			return
		}
		e.handle(buf[:n])
	}
}

// handle parses the netlink messages of one datagram.
func (e *procEvents) handle(b []byte) {
	ne := binary.NativeEndian
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return
		}
		m := b[nlmsgHdrLen:l]
		b = b[(l+3)&^3:]
		if len(m) < cnMsgLen+procEventHdrLen+8 {
			continue
		}
		if ne.Uint32(m[0:]) != cnIdxProc || ne.Uint32(m[4:]) != cnValProc {
			continue
		}
		ev := m[cnMsgLen:]
		e.received.Add(1)
		data := ev[procEventHdrLen:]
		switch ne.Uint32(ev) {
		case procEventFork:
			if len(data) < 16 {
				continue
			}
			// Only a new process matters; a new thread changes nothing
			// the scan keeps.
			if pid, tgid := ne.Uint32(data[8:]), ne.Uint32(data[12:]); pid == tgid {
				e.cache.markDirty(int(tgid))
			}
		case procEventExec, procEventUID, procEventGID, procEventComm, procEventExit, procEventNonzeroEx:
			if pid, tgid := ne.Uint32(data[0:]), ne.Uint32(data[4:]); pid == tgid || ne.Uint32(ev) != procEventExit {
				e.cache.markDirty(int(tgid))
			}
		}
	}
}

func (e *procEvents) close() error {
	e.closing.Store(true)
	<-e.done
	e.up.Store(false)
	return unix.Close(e.fd)
}
