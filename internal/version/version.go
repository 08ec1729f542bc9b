// Package version reports which ciwarden this is, from the build info the
// Go toolchain stamps into the binary: `ciwarden version` and
// GET /api/v4/version show the same values.
package version

import (
	"runtime/debug"
	"strings"
)

// Unknown values, for a build without module or VCS information (a
// `go build` outside a repository, or with -buildvcs=false).
const (
	DevVersion      = "0.0.0-dev"
	UnknownRevision = "unknown"
)

// Get returns the main module's version and the VCS revision it was built
// from.
func Get() (version, revision string) {
	bi, _ := debug.ReadBuildInfo()
	return FromBuildInfo(bi)
}

// FromBuildInfo is Get for given build info. The version drops Go's "v"
// prefix, as GitLab writes its own ("17.5.0", which clients parse as
// semver); the revision is the commit hash cut to 12 characters, as in
// Go's pseudo-versions.
func FromBuildInfo(bi *debug.BuildInfo) (version, revision string) {
	version, revision = DevVersion, UnknownRevision
	if bi == nil {
		return version, revision
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		version = strings.TrimPrefix(v, "v")
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			revision = s.Value[:min(len(s.Value), 12)]
		}
	}
	return version, revision
}
