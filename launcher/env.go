package launcher

import "strings"

// workloadEnv is -e plus a default PATH and HOME, as docker gives.
func workloadEnv(c *Config) []string {
	env := append([]string(nil), c.Env...)
	has := func(k string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	if !has("PATH") {
		env = append(env, DefaultPath)
	}
	if !has("HOSTNAME") && c.Hostname != "" {
		env = append(env, "HOSTNAME="+c.Hostname)
	}
	if !has("HOME") {
		home := "/"
		if c.UID == 0 {
			home = "/root"
		}
		env = append(env, "HOME="+home)
	}
	return env
}
