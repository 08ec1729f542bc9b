// Package version says which build of ciwarden is running, from what the
// Go toolchain embeds in the binary (runtime/debug.ReadBuildInfo): the
// main module's version and the VCS revision it was built from. GET
// /api/v4/version and /metadata and `ciwarden version` print these values.
package version

import (
	"runtime/debug"
	"sync"
)

// Info is a build's identity.
type Info struct {
	// Version is the main module's version: a release tag (v1.2.0), a
	// pseudo-version the toolchain derived from the VCS
	// (v0.0.0-20260101120000-0123456789ab, "+dirty" when the tree had
	// changes), or "(devel)" when the build recorded none.
	Version string
	// Revision is the VCS commit (vcs.revision); "" when the build
	// recorded none (go install of a module, -buildvcs=false).
	Revision string
	// Modified is vcs.modified: the tree had uncommitted changes.
	Modified bool
}

// Get is this binary's Info, read once.
var Get = sync.OnceValue(func() Info { return FromBuildInfo(debug.ReadBuildInfo()) })

// FromBuildInfo extracts Info from build information (ok false: none).
func FromBuildInfo(bi *debug.BuildInfo, ok bool) Info {
	info := Info{Version: "(devel)"}
	if !ok || bi == nil {
		return info
	}
	if bi.Main.Version != "" {
		info.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.Revision = s.Value
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}
