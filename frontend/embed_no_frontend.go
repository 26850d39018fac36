//go:build no_frontend

package frontend

import "io/fs"

// Dist is nil when built with -tags no_frontend: the server serves no UI.
var Dist fs.FS
