package flow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"gorm.io/gorm"
)

// ErrNotFound is returned for a flow or version the shop does not have.
var ErrNotFound = errors.New("flow: not found")

// Store keeps each shop's flows: which are enabled, the current version, and
// every version's definition. Versions are immutable, so they are cached in
// memory (safe across replicas).
type Store struct {
	db    *gorm.DB
	cache sync.Map // versionKey → *Flow
}

type versionKey struct {
	shop    int64
	key     Key
	version int
}

// NewStore returns a Store on db.
func NewStore(db *gorm.DB) *Store { return &Store{db: db} }

// EnsureDefaults gives a shop the nine default flows (version 1, disabled)
// that it does not have yet. Idempotent.
func (s *Store) EnsureDefaults(ctx context.Context, shopID int64) error {
	for _, f := range Defaults() {
		if err := s.ensure(ctx, shopID, &f); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) ensure(ctx context.Context, shopID int64, f *Flow) error {
	def, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("flow: encode %s: %w", f.Key, err)
	}
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		res := tx.Exec(`INSERT INTO flows (shop_id, key, version) VALUES (?, ?, 1) ON CONFLICT DO NOTHING`, shopID, f.Key)
		if res.Error != nil {
			return fmt.Errorf("flow: seed %s for shop %d: %w", f.Key, shopID, res.Error)
		}
		if res.RowsAffected == 0 {
			return nil
		}
		if err := tx.Exec(`INSERT INTO flow_versions (shop_id, key, version, definition) VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING`,
			shopID, f.Key, string(def)).Error; err != nil {
			return fmt.Errorf("flow: seed %s for shop %d: %w", f.Key, shopID, err)
		}
		return nil
	})
}

// State is a flow's switch and current version.
type State struct {
	Key     Key
	Enabled bool
	Version int
}

// Current returns the current definition of a flow and whether it is
// enabled, seeding the default first when the shop has none.
func (s *Store) Current(ctx context.Context, shopID int64, key Key) (*Flow, bool, error) {
	st, err := s.state(ctx, shopID, key)
	if errors.Is(err, ErrNotFound) {
		def := Default(key)
		if def == nil {
			return nil, false, fmt.Errorf("flow: %s: %w", key, ErrNotFound)
		}
		if err := s.ensure(ctx, shopID, def); err != nil {
			return nil, false, err
		}
		st, err = s.state(ctx, shopID, key)
	}
	if err != nil {
		return nil, false, err
	}
	f, err := s.Version(ctx, shopID, key, st.Version)
	if err != nil {
		return nil, false, err
	}
	return f, st.Enabled, nil
}

func (s *Store) state(ctx context.Context, shopID int64, key Key) (State, error) {
	var rows []State
	err := s.db.WithContext(ctx).Raw(`SELECT key, enabled, version FROM flows WHERE shop_id = ? AND key = ?`, shopID, key).Scan(&rows).Error
	if err != nil {
		return State{}, fmt.Errorf("flow: read %s for shop %d: %w", key, shopID, err)
	}
	if len(rows) == 0 {
		return State{}, ErrNotFound
	}
	return rows[0], nil
}

// List returns the state of every flow of a shop.
func (s *Store) List(ctx context.Context, shopID int64) ([]State, error) {
	var rows []State
	err := s.db.WithContext(ctx).Raw(`SELECT key, enabled, version FROM flows WHERE shop_id = ? ORDER BY key`, shopID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("flow: list for shop %d: %w", shopID, err)
	}
	return rows, nil
}

// Version returns one version of a flow, or ErrNotFound.
func (s *Store) Version(ctx context.Context, shopID int64, key Key, version int) (*Flow, error) {
	vk := versionKey{shopID, key, version}
	if f, ok := s.cache.Load(vk); ok {
		return f.(*Flow), nil
	}
	var defs []string
	err := s.db.WithContext(ctx).Raw(`SELECT definition::text FROM flow_versions WHERE shop_id = ? AND key = ? AND version = ?`,
		shopID, key, version).Scan(&defs).Error
	if err != nil {
		return nil, fmt.Errorf("flow: read %s v%d for shop %d: %w", key, version, shopID, err)
	}
	if len(defs) == 0 {
		return nil, fmt.Errorf("flow: %s v%d for shop %d: %w", key, version, shopID, ErrNotFound)
	}
	var f Flow
	if err := json.Unmarshal([]byte(defs[0]), &f); err != nil {
		return nil, fmt.Errorf("flow: decode %s v%d for shop %d: %w", key, version, shopID, err)
	}
	f.Version = version
	s.cache.Store(vk, &f)
	return &f, nil
}

// Publish validates a definition and stores it as the flow's next version,
// which new enrollments use. It returns the version number, or a
// *ValidationError.
func (s *Store) Publish(ctx context.Context, shopID int64, f Flow) (int, error) {
	return s.publish(ctx, shopID, f, nil)
}

// publish stores f as the next version and, in the same transaction, runs
// then (the version's content, the draft's removal).
func (s *Store) publish(ctx context.Context, shopID int64, f Flow, then func(tx *gorm.DB, version int) error) (int, error) {
	if err := Validate(&f); err != nil {
		return 0, err
	}
	if _, _, err := s.Current(ctx, shopID, f.Key); err != nil { // seeds the row to lock
		return 0, err
	}
	var version int
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var cur []int
		if err := tx.Raw(`SELECT version FROM flows WHERE shop_id = ? AND key = ? FOR UPDATE`, shopID, f.Key).Scan(&cur).Error; err != nil {
			return err
		}
		if len(cur) == 0 {
			return ErrNotFound
		}
		version = cur[0] + 1
		f.Version = version
		def, err := json.Marshal(f)
		if err != nil {
			return err
		}
		if err := tx.Exec(`INSERT INTO flow_versions (shop_id, key, version, definition) VALUES (?, ?, ?, ?)`,
			shopID, f.Key, version, string(def)).Error; err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE flows SET version = ?, updated_at = now() WHERE shop_id = ? AND key = ?`, version, shopID, f.Key).Error; err != nil {
			return err
		}
		if then != nil {
			return then(tx, version)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("flow: publish %s for shop %d: %w", f.Key, shopID, err)
	}
	return version, nil
}

// SetEnabled switches a flow on or off. Off stops new enrollments, and the
// journey engine ends waiting ones at their next step.
func (s *Store) SetEnabled(ctx context.Context, shopID int64, key Key, enabled bool) error {
	if _, _, err := s.Current(ctx, shopID, key); err != nil {
		return err
	}
	if err := s.db.WithContext(ctx).Exec(`UPDATE flows SET enabled = ?, updated_at = now() WHERE shop_id = ? AND key = ?`,
		enabled, shopID, key).Error; err != nil {
		return fmt.Errorf("flow: switch %s for shop %d: %w", key, shopID, err)
	}
	return nil
}

// Enabled returns the current version of every enabled flow of a shop.
func (s *Store) Enabled(ctx context.Context, shopID int64) ([]*Flow, error) {
	var rows []State
	err := s.db.WithContext(ctx).Raw(`SELECT key, enabled, version FROM flows WHERE shop_id = ? AND enabled ORDER BY key`, shopID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("flow: enabled flows of shop %d: %w", shopID, err)
	}
	out := make([]*Flow, 0, len(rows))
	for _, r := range rows {
		f, err := s.Version(ctx, shopID, r.Key, r.Version)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// IsEnabled reports whether a flow is switched on (false when the shop has
// never had it).
func (s *Store) IsEnabled(ctx context.Context, shopID int64, key Key) (bool, error) {
	st, err := s.state(ctx, shopID, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return st.Enabled, err
}
