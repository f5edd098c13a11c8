package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/ftpdtls/ftpdtls/directives"
)

// proftpdVersion is the ProFTPD release whose configuration language,
// verdicts and cache formats ftpdtls follows.
const proftpdVersion = "1.3.8"

func init() {
	register(&command{
		name:    "version",
		summary: "print ftpdtls's version, the Go version and the ProFTPD release it follows",
		run: func(args []string) int {
			if len(args) > 0 {
				if args[0] != "-h" && args[0] != "-help" && args[0] != "--help" {
					fmt.Fprintf(os.Stderr, "ftpdtls version: unexpected argument %q\n", args[0])
				}
				fmt.Fprintln(os.Stderr, "usage: ftpdtls version")
				if args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
					return 0
				}
				return 2
			}
			bi, _ := debug.ReadBuildInfo()
			writeVersion(os.Stdout, bi)
			return 0
		},
	})
}

// writeVersion prints three lines: the module's version (with the VCS
// revision a source build records), the Go toolchain, and the ProFTPD
// release and module versions ftpdtls is compatible with. bi may be nil
// (a binary built without module support).
func writeVersion(w io.Writer, bi *debug.BuildInfo) {
	path, version, goVersion := "github.com/ftpdtls/ftpdtls", "(unknown)", runtime.Version()
	var vcs []string
	if bi != nil {
		if bi.Main.Path != "" {
			path = bi.Main.Path
		}
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			vcs = append(vcs, "revision "+rev)
		}
		if modified == "true" {
			vcs = append(vcs, "modified")
		}
	}
	extra := ""
	if len(vcs) > 0 {
		extra = ", " + strings.Join(vcs, ", ")
	}
	fmt.Fprintf(w, "ftpdtls %s (%s%s)\n", version, path, extra)
	fmt.Fprintf(w, "Go %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	var mods []string
	for _, name := range directives.Registered() {
		if v := directives.RegisteredVersion(name); v != "" {
			mods = append(mods, v)
		}
	}
	fmt.Fprintf(w, "ProFTPD %s compatible (proftpd.conf and proftpd -t as Debian 12's proftpd %s): %s\n",
		proftpdVersion, proftpdVersion, strings.Join(mods, ", "))
}
