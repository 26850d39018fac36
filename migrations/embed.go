// Package migrations embeds the numbered SQL migrations applied by
// `relance migrate` (and by the test harness on each test database).
//
// SQL is the source of truth for the schema; gorm structs mirror it and
// AutoMigrate is never used. Version ranges are owned by domains so parallel
// work never collides: 0001–0009 platform/shops/webhooks, 0010–0029 the
// sequence engine, 0030–0049 mail and discounts, 0050–0069 storefront and
// analytics.
package migrations

import "embed"

// FS holds every *.sql migration, in goose format.
//
//go:embed *.sql
var FS embed.FS
