// Package benchdb gives a benchmark a database of its own, created afresh
// and migrated, on the PostgreSQL server it was pointed at.
package benchdb

import (
	"context"
	"fmt"
	"net/url"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/platform"
)

// Fresh drops the database name on the server of serverURL if it exists
// (closing its connections), creates it, opens it and applies every
// migration. The database serverURL names is not touched.
func Fresh(ctx context.Context, serverURL, name string) (*gorm.DB, error) {
	admin, err := platform.OpenDB(ctx, serverURL)
	if err != nil {
		return nil, err
	}
	defer platform.CloseDB(admin)
	if err := admin.Exec(fmt.Sprintf(`DROP DATABASE IF EXISTS %q WITH (FORCE)`, name)).Error; err != nil {
		return nil, fmt.Errorf("benchdb: drop %s: %w", name, err)
	}
	if err := admin.Exec(fmt.Sprintf(`CREATE DATABASE %q`, name)).Error; err != nil {
		return nil, fmt.Errorf("benchdb: create %s: %w", name, err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("benchdb: server URL: %w", err)
	}
	u.Path = "/" + name
	db, err := platform.OpenDB(ctx, u.String())
	if err != nil {
		return nil, err
	}
	if _, err := platform.Migrate(ctx, db); err != nil {
		platform.CloseDB(db)
		return nil, fmt.Errorf("benchdb: migrate %s: %w", name, err)
	}
	return db, nil
}
