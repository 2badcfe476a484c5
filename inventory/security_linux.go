package inventory

import (
	"os"
	"path/filepath"
	"strconv"
)

// ReadSecurity reads one process's confinement from
// <procRoot>/<pid>/status (the launcher's ps uses it for its workloads;
// the scan reads the same fields for every process).
func ReadSecurity(procRoot string, pid int) (Security, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return Security{}, err
	}
	st, err := parseStatus(b)
	if err != nil {
		return Security{}, err
	}
	return st.Security, nil
}
