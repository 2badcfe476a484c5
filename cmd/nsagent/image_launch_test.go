//go:build !launchonly

package main

import (
	"errors"
	"reflect"
	"testing"

	"github.com/nsagent/nsagent/images"
	"github.com/nsagent/nsagent/launcher"
)

func TestApplyImageConfig(t *testing.T) {
	img := images.ImageConfig{
		Env:        []string{"PATH=/img/bin", "A=image", "B=image"},
		Entrypoint: []string{"/entry", "--flag"},
		Cmd:        []string{"default", "args"},
		WorkingDir: "/work",
		User:       "app",
	}
	lookup := func(u string) (int, int, error) {
		if u == "app" {
			return 1000, 1001, nil
		}
		return 0, 0, errors.New("no such user")
	}
	for _, c := range []struct {
		name    string
		img     images.ImageConfig
		in      launcher.Config
		userSet bool
		want    launcher.Config
	}{
		{
			name: "image defaults",
			img:  img,
			want: launcher.Config{Args: []string{"/entry", "--flag", "default", "args"}, Env: img.Env, Cwd: "/work", UID: 1000, GID: 1001},
		},
		{
			name:    "command and flags win",
			img:     img,
			in:      launcher.Config{Args: []string{"mine"}, Env: []string{"B=cli", "C=cli"}, Cwd: "/tmp", UID: 5, GID: 6},
			userSet: true,
			want:    launcher.Config{Args: []string{"/entry", "--flag", "mine"}, Env: []string{"PATH=/img/bin", "A=image", "B=cli", "C=cli"}, Cwd: "/tmp", UID: 5, GID: 6},
		},
		{
			name: "no entrypoint",
			img:  images.ImageConfig{Cmd: []string{"/bin/sh"}},
			in:   launcher.Config{Args: []string{"echo", "hi"}},
			want: launcher.Config{Args: []string{"echo", "hi"}},
		},
		{
			name: "cmd only",
			img:  images.ImageConfig{Cmd: []string{"/bin/sh"}},
			want: launcher.Config{Args: []string{"/bin/sh"}},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.in
			if err := applyImageConfig(&got, c.img, c.userSet, lookup); err != nil {
				t.Fatal(err)
			}
			if len(got.Env) == 0 {
				got.Env = nil
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
	if err := applyImageConfig(&launcher.Config{}, images.ImageConfig{User: "ghost"}, false, lookup); err == nil {
		t.Error("an image user that does not resolve was accepted")
	}
}
