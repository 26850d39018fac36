package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Content is the merchant's own email for a step in one language (Liquid
// source, checked by the mail package before it is stored). A step without
// content uses its default template.
type Content struct {
	Subject   string `json:"subject"`
	Preheader string `json:"preheader"`
	Body      string `json:"body"`
}

// ContentSet is a flow's content: step template → locale → content.
type ContentSet map[string]map[string]Content

// Set records c for (template, locale).
func (cs ContentSet) Set(template, locale string, c Content) {
	if cs[template] == nil {
		cs[template] = map[string]Content{}
	}
	cs[template][locale] = c
}

// Get returns the content of (template, locale).
func (cs ContentSet) Get(template, locale string) (Content, bool) {
	c, ok := cs[template][locale]
	return c, ok
}

// Draft is a flow being edited: a definition and its content, stored until
// published. BaseVersion is the version the draft started from.
type Draft struct {
	Flow        Flow
	Content     ContentSet
	BaseVersion int
	UpdatedAt   time.Time
}

// SaveDraft validates the draft's definition and stores it as the flow's
// draft, replacing any previous one. It returns a *ValidationError for an
// invalid definition; the content is the caller's to check.
func (s *Store) SaveDraft(ctx context.Context, shopID int64, d Draft) error {
	if err := Validate(&d.Flow); err != nil {
		return err
	}
	_, _, err := s.Current(ctx, shopID, d.Flow.Key) // seeds the flows row the draft references
	if err != nil {
		return err
	}
	def, err := json.Marshal(d.Flow)
	if err != nil {
		return fmt.Errorf("flow: encode draft %s: %w", d.Flow.Key, err)
	}
	if d.Content == nil {
		d.Content = ContentSet{}
	}
	content, err := json.Marshal(d.Content)
	if err != nil {
		return fmt.Errorf("flow: encode draft content %s: %w", d.Flow.Key, err)
	}
	err = s.db.WithContext(ctx).Exec(`INSERT INTO flow_drafts (shop_id, key, base_version, definition, content) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (shop_id, key) DO UPDATE SET base_version = EXCLUDED.base_version, definition = EXCLUDED.definition,
			content = EXCLUDED.content, updated_at = now()`,
		shopID, d.Flow.Key, d.BaseVersion, string(def), string(content)).Error
	if err != nil {
		return fmt.Errorf("flow: save draft %s for shop %d: %w", d.Flow.Key, shopID, err)
	}
	return nil
}

type draftRow struct {
	BaseVersion int
	Definition  string
	Content     string
	UpdatedAt   time.Time
}

// Draft returns the flow's draft, or ErrNotFound when there is none.
func (s *Store) Draft(ctx context.Context, shopID int64, key Key) (*Draft, error) {
	return draft(s.db.WithContext(ctx), shopID, key, false)
}

func draft(db *gorm.DB, shopID int64, key Key, lock bool) (*Draft, error) {
	q := `SELECT base_version, definition::text AS definition, content::text AS content, updated_at FROM flow_drafts
		WHERE shop_id = ? AND key = ?`
	if lock {
		q += ` FOR UPDATE`
	}
	var rows []draftRow
	if err := db.Raw(q, shopID, key).Scan(&rows).Error; err != nil {
		return nil, fmt.Errorf("flow: read draft %s for shop %d: %w", key, shopID, err)
	}
	if len(rows) == 0 {
		return nil, ErrNotFound
	}
	d := &Draft{BaseVersion: rows[0].BaseVersion, UpdatedAt: rows[0].UpdatedAt, Content: ContentSet{}}
	if err := json.Unmarshal([]byte(rows[0].Definition), &d.Flow); err != nil {
		return nil, fmt.Errorf("flow: decode draft %s for shop %d: %w", key, shopID, err)
	}
	if err := json.Unmarshal([]byte(rows[0].Content), &d.Content); err != nil {
		return nil, fmt.Errorf("flow: decode draft content %s for shop %d: %w", key, shopID, err)
	}
	return d, nil
}

// PublishDraft publishes the flow's draft as its next version, with the
// draft's content, and removes the draft, all in one transaction. It returns
// ErrNotFound when there is no draft.
func (s *Store) PublishDraft(ctx context.Context, shopID int64, key Key) (int, error) {
	d, err := s.Draft(ctx, shopID, key)
	if err != nil {
		return 0, err
	}
	return s.publish(ctx, shopID, d.Flow, func(tx *gorm.DB, version int) error {
		// Re-read under lock: a draft saved since the read above wins the
		// next publish, never half of this one.
		locked, err := draft(tx, shopID, key, true)
		if err != nil {
			return err
		}
		if !locked.UpdatedAt.Equal(d.UpdatedAt) {
			return fmt.Errorf("flow: draft %s changed while publishing, try again", key)
		}
		for tmpl, byLocale := range d.Content {
			for locale, c := range byLocale {
				if err := tx.Exec(`INSERT INTO flow_content (shop_id, key, version, template, locale, subject, preheader, body)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, shopID, key, version, tmpl, locale, c.Subject, c.Preheader, c.Body).Error; err != nil {
					return err
				}
			}
		}
		return tx.Exec(`DELETE FROM flow_drafts WHERE shop_id = ? AND key = ?`, shopID, key).Error
	})
}

// VersionContent returns the merchant's content of one published version
// (empty when every step uses its default template).
func (s *Store) VersionContent(ctx context.Context, shopID int64, key Key, version int) (ContentSet, error) {
	var rows []struct {
		Template, Locale, Subject, Preheader, Body string
	}
	err := s.db.WithContext(ctx).Raw(`SELECT template, locale, subject, preheader, body FROM flow_content
		WHERE shop_id = ? AND key = ? AND version = ?`, shopID, key, version).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("flow: content of %s v%d for shop %d: %w", key, version, shopID, err)
	}
	out := ContentSet{}
	for _, r := range rows {
		out.Set(r.Template, r.Locale, Content{Subject: r.Subject, Preheader: r.Preheader, Body: r.Body})
	}
	return out, nil
}

// StepContent returns the merchant's content for one step template of a
// published version in locale; ok is false when there is none.
func (s *Store) StepContent(ctx context.Context, shopID int64, key Key, version int, template, locale string) (c Content, ok bool, err error) {
	var rows []Content
	err = s.db.WithContext(ctx).Raw(`SELECT subject, preheader, body FROM flow_content
		WHERE shop_id = ? AND key = ? AND version = ? AND template = ? AND locale = ?`, shopID, key, version, template, locale).Scan(&rows).Error
	if err != nil {
		return Content{}, false, fmt.Errorf("flow: content of %s v%d %s for shop %d: %w", key, version, template, shopID, err)
	}
	if len(rows) == 0 {
		return Content{}, false, nil
	}
	return rows[0], true, nil
}

// VersionInfo is one published version of a flow.
type VersionInfo struct {
	Version     int       `json:"version"`
	PublishedAt time.Time `json:"published_at"`
}

// Versions lists a flow's published versions, newest first (ErrNotFound for
// an unknown flow).
func (s *Store) Versions(ctx context.Context, shopID int64, key Key) ([]VersionInfo, error) {
	if _, _, err := s.Current(ctx, shopID, key); err != nil {
		return nil, err
	}
	var out []VersionInfo
	err := s.db.WithContext(ctx).Raw(`SELECT version, created_at AS published_at FROM flow_versions WHERE shop_id = ? AND key = ?
		ORDER BY version DESC`, shopID, key).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("flow: versions of %s for shop %d: %w", key, shopID, err)
	}
	return out, nil
}

// IsKnown reports whether key names one of the nine flows.
func IsKnown(key Key) bool { return knownKeys[key] }
