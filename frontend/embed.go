//go:build !no_frontend

// Package frontend holds the built admin UI (frontend/dist), embedded in the
// binary. `make frontend` builds it; on a fresh clone dist/ holds only
// .gitkeep, so the Go code compiles before any Node build and serves no UI.
//
// Build with -tags no_frontend to leave the UI out entirely (Dist is nil).
package frontend

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Dist is the content of frontend/dist: index.html and assets/.
var Dist fs.FS = mustSub(dist, "dist")

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic("frontend: " + err.Error())
	}
	return sub
}
