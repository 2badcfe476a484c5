//go:build embedlaunch && !launchonly

package main

import _ "embed"

// nsagent-launch.gz is the launch-only build scripts/build.sh made just
// before this one (gitignored).
//
//go:embed nsagent-launch.gz
var embeddedLaunchBinary []byte

func init() { launchBinaryGz = embeddedLaunchBinary }
