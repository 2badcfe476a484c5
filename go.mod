module github.com/nsagent/nsagent

go 1.26.8

require (
	github.com/prometheus/procfs v0.23.0
	github.com/spf13/pflag v1.1.0
	github.com/vishvananda/netlink v1.3.1
	golang.org/x/sys v0.50.0
)

require (
	github.com/prometheus/client_golang v1.25.0 // indirect
	github.com/prometheus/exporter-toolkit v0.20.0 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
)
