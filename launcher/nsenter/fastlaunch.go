package nsenter

// The launch binary.
//
// `nsagent launch` is the one command whose start-up time users wait for
// on every workload, and most of a Go binary's start-up is the package
// inits of everything linked into it: the agent's (client_golang,
// protobuf, the exporter toolkit, html/template) and the registry
// client's included, which a launch from the cache never uses. `make
// build` (scripts/build.sh) therefore builds the binary twice: first with
// the launchonly tag, which keeps only what a launch runs (launch, its
// monitor and network teardown, and this package's C), then the binary
// users get, which embeds that launch-only build and names it by its
// digest (NSAGENT_LAUNCH_ID, a C define).
//
// The first launch of a build writes the launch-only binary to
// /var/lib/nsagent/launch/nsagent-launch-ID (cmd/nsagent/launchbin.go).
// From then on, the constructor (fastlaunch.c) re-executes `nsagent launch`
// as that binary before the Go runtime starts, with the same arguments
// and environment: the launch is the same code, built without what it
// does not use. It does so only from a directory owned by root and
// writable by nobody else, and goes on in this binary whenever the
// execve fails (no such file yet, a noexec mount, not root).
// NSAGENT_LAUNCH_BINARY=0 turns it off, for a comparison.
//
// Images: a launch from a docker-archive:, oci: or tarball: source stays
// in this binary (the constructor reads launch's flags to find the
// operand). A registry reference goes to the launch binary, which finds
// the image in the cache by the name as written when a launch or pull
// resolved that name before (package images/cache: parsing a reference
// is the registry client's); otherwise it hands the launch back to this
// binary (EnvFullBinary), which resolves the name, pulls if need be, and
// records it. That hand-over costs the launch binary's start, once per
// new name.
//
// Measured with GODEBUG=inittrace=1, the full binary runs 162 package
// inits in 13-19 ms, the launch binary 60 in about 4.5. A launch of
// /bin/true (--net none) took 33.7 ms against 40.7 ms in the full binary,
// 0.83 of its time (scripts/bench/launch.sh in make bench, 30 rounds,
// which prints both; 0.83-0.88 over five runs). The re-exec itself costs about 2 ms of that: the launch binary
// started directly measured 0.95 of the time of its start through this
// constructor (30 paired rounds).

/*
#include <stdlib.h>
extern const char *nsagent_launch_binary_dir(void);
extern int nsagent_launch_flag_takes_value(const char *name);
extern const char *nsagent_launch_binary_name(void);
*/
import "C"

import "unsafe"

// EnvLaunchBinary set to "0" keeps `nsagent launch` in the binary it was
// started as.
const EnvLaunchBinary = "NSAGENT_LAUNCH_BINARY"

// EnvFullBinary is set by the constructor in the launch binary's
// environment: the path of the binary it was started as, where an image
// launch the cache cannot serve goes (the launch binary has no registry
// client).
const EnvFullBinary = "_NSAGENT_FULL_BINARY"

// LaunchFlagTakesValue reports whether fastlaunch.c reads launch's flag
// NAME (long, or one letter) as taking the next argument when no "="
// follows it.
func LaunchFlagTakesValue(name string) bool {
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	return C.nsagent_launch_flag_takes_value(cs) != 0
}

// LaunchBinary returns the directory and file name the constructor
// executes `nsagent launch` from, or empty strings in a build that has no
// launch-only binary.
func LaunchBinary() (dir, name string) {
	return C.GoString(C.nsagent_launch_binary_dir()), C.GoString(C.nsagent_launch_binary_name())
}
