package inventory

import (
	"fmt"
	"testing"
)

func TestParseNSFSMounts(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []NSFSMount
	}{
		{"none", "22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw\n", nil},
		{"netns among others", "22 1 0:21 / /proc rw - proc proc rw\n" +
			"600 25 0:4 net:[4026532400] /run/netns/x rw shared:140 - nsfs nsfs rw\n" +
			"601 25 0:4 net:[4026532401] /run/docker/netns/a\\040b rw - nsfs nsfs rw",
			[]NSFSMount{{"net:[4026532400]", "/run/netns/x"}, {"net:[4026532401]", "/run/docker/netns/a\\040b"}}},
		{"no optional fields", "5 1 0:4 mnt:[4026532500] /x rw - nsfs nsfs rw\n", []NSFSMount{{"mnt:[4026532500]", "/x"}}},
		{"truncated", "600 25 0:4 - nsfs nsfs rw\n- nsfs\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := parseNSFSMounts([]byte(tc.in))
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("parseNSFSMounts = %v, want %v", got, tc.want)
			}
		})
	}
}
