package courier

import (
	"context"
	"fmt"

	"gorm.io/gorm"

	"github.com/relance/relance/internal/mail"
)

// SenderSettings are who a shop's emails come from, as the merchant set them
// in the admin (table shop_settings). Empty fields fall back to what Shopify
// told us about the shop (name, email, time zone).
type SenderSettings struct {
	SenderName     string // the shop's name as shoppers know it
	OwnerFirstName string // signs the emails: "Claire from Maison & Co"
	ReplyTo        string // the monitored inbox
	PostalAddress  string // shown in every footer
	DefaultLocale  string // "en" or "fr": the language when the shopper's is unknown
	Timezone       string // IANA zone overriding the shop's
}

// LoadSenderSettings returns a shop's sender settings (DefaultLocale "en"
// and nothing else when never set).
func LoadSenderSettings(ctx context.Context, db *gorm.DB, shopID int64) (SenderSettings, error) {
	var rows []SenderSettings
	err := db.WithContext(ctx).Raw(`SELECT sender_name, owner_first_name, reply_to, postal_address, default_locale, timezone
		FROM shop_settings WHERE shop_id = ?`, shopID).Scan(&rows).Error
	if err != nil {
		return SenderSettings{}, fmt.Errorf("courier: read sender settings of shop %d: %w", shopID, err)
	}
	if len(rows) == 0 {
		return SenderSettings{DefaultLocale: mail.DefaultLocale}, nil
	}
	return rows[0], nil
}

// SaveSenderSettings stores a shop's sender settings; the caller validates
// them (the table checks only the locale).
func SaveSenderSettings(ctx context.Context, db *gorm.DB, shopID int64, s SenderSettings) error {
	if s.DefaultLocale == "" {
		s.DefaultLocale = mail.DefaultLocale
	}
	err := db.WithContext(ctx).Exec(`INSERT INTO shop_settings (shop_id, sender_name, owner_first_name, reply_to, postal_address,
			default_locale, timezone)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (shop_id) DO UPDATE SET sender_name = EXCLUDED.sender_name, owner_first_name = EXCLUDED.owner_first_name,
			reply_to = EXCLUDED.reply_to, postal_address = EXCLUDED.postal_address, default_locale = EXCLUDED.default_locale,
			timezone = EXCLUDED.timezone, updated_at = now()`,
		shopID, s.SenderName, s.OwnerFirstName, s.ReplyTo, s.PostalAddress, s.DefaultLocale, s.Timezone).Error
	if err != nil {
		return fmt.Errorf("courier: save sender settings of shop %d: %w", shopID, err)
	}
	return nil
}

// From is who a shop's email comes from: the display name in locale ("Claire
// from Maison & Co") and the address, at the shop's own domain once Resend
// has verified it, else mailFrom (MAIL_FROM). Real sends and the admin's test
// emails share it, so a merchant's test shows what shoppers will get.
func From(ctx context.Context, db *gorm.DB, shopID int64, s mail.Shop, locale, mailFrom string) (name, addr string, err error) {
	addr, err = mail.FromAddress(ctx, db, shopID, mailFrom)
	if err != nil {
		return "", "", fmt.Errorf("courier: sender of shop %d: %w", shopID, err)
	}
	return mail.SenderName(s.OwnerName, s.Name, locale), addr, nil
}
