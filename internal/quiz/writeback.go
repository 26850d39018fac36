package quiz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/relance/relance/internal/contact"
	"github.com/relance/relance/internal/platform"
	"github.com/relance/relance/internal/shop"
	"github.com/relance/relance/internal/shopify"
)

// TypeWriteBack is the asynq task writing a quiz subscriber to Shopify: the
// customer (customerCreate when the contact has no Shopify customer yet) and
// the marketing consent given in the quiz
// (customerEmailMarketingConsentUpdate).
const TypeWriteBack = "quiz:customer_write_back"

type writeBackPayload struct {
	ShopID    int64 `json:"shop_id"`
	ContactID int64 `json:"contact_id"`
}

// enqueueWriteBack queues the Shopify write-back. The submission is already
// durable; a failure to queue is logged, not shown to the shopper.
func (s *Service) enqueueWriteBack(ctx context.Context, shopID, contactID int64) {
	if s.o.Queue == nil {
		return
	}
	b, _ := json.Marshal(writeBackPayload{ShopID: shopID, ContactID: contactID}) // plain fields always encode
	_, err := s.o.Queue.EnqueueContext(ctx, asynq.NewTask(TypeWriteBack, b), asynq.TaskID("quiz-customer:"+strconv.FormatInt(contactID, 10)),
		asynq.Queue(platform.QueueDefault), asynq.MaxRetry(15), asynq.Timeout(time.Minute), asynq.Retention(time.Hour))
	if err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		s.log.ErrorContext(ctx, "quiz: could not queue the customer write-back to Shopify", "shop_id", shopID, "contact_id", contactID, "err", err)
	}
}

const customerCreateMutation = `mutation customerCreate($input: CustomerInput!) {
  customerCreate(input: $input) {
    customer { id }
    userErrors { field message }
  }
}`

const customerByEmailQuery = `query customerByEmail($query: String!) {
  customers(first: 1, query: $query) { nodes { id } }
}`

// HandleWriteBack is the asynq handler of TypeWriteBack. The contact's
// current state is written, so a contact who unsubscribed since is skipped
// (the unsubscribe writes its own change). Transient failures are retried;
// userErrors, a lost authorization or an uninstalled shop are final and
// logged.
func (s *Service) HandleWriteBack(ctx context.Context, t *asynq.Task) error {
	if s.o.Admin == nil {
		return fmt.Errorf("quiz: write-back without an Admin API client: %w", asynq.SkipRetry)
	}
	var p writeBackPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil || p.ShopID <= 0 || p.ContactID <= 0 {
		return fmt.Errorf("quiz: decode write-back %q: %v: %w", t.Payload(), err, asynq.SkipRetry)
	}
	ct, err := s.o.Contacts.Get(ctx, p.ShopID, p.ContactID)
	if errors.Is(err, contact.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if ct.Consent != contact.Subscribed || ct.ConsentSource != ConsentSource || ct.Email == nil || ct.ConsentUpdatedAt == nil {
		s.log.InfoContext(ctx, "quiz: customer write-back superseded, skipped", "shop_id", p.ShopID, "contact_id", p.ContactID)
		return nil
	}
	var shops []struct {
		Domain        string
		UninstalledAt *time.Time
	}
	if err := s.o.DB.WithContext(ctx).Raw(`SELECT domain, uninstalled_at FROM shops WHERE id = ?`, p.ShopID).Scan(&shops).Error; err != nil {
		return fmt.Errorf("quiz: write-back: shop %d: %w", p.ShopID, err)
	}
	if len(shops) == 0 || shops[0].UninstalledAt != nil {
		s.log.InfoContext(ctx, "quiz: shop gone or uninstalled, customer not written back", "shop_id", p.ShopID, "contact_id", p.ContactID)
		return nil
	}
	domain := shops[0].Domain
	err = s.writeBack(ctx, domain, ct, *ct.ConsentUpdatedAt)
	var userErrs shopify.UserErrors
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "quiz: customer and consent written back to Shopify", "shop_id", p.ShopID, "contact_id", p.ContactID)
		return nil
	case errors.As(err, &userErrs), errors.Is(err, shop.ErrReauthorize), errors.Is(err, shop.ErrNotInstalled), errors.Is(err, shop.ErrNotFound):
		s.log.ErrorContext(ctx, "quiz: Shopify refused the customer write-back", "shop_id", p.ShopID, "contact_id", p.ContactID, "err", err)
		return fmt.Errorf("quiz: write back contact %d: %w: %w", p.ContactID, err, asynq.SkipRetry)
	}
	return fmt.Errorf("quiz: write back contact %d: %w", p.ContactID, err)
}

func (s *Service) writeBack(ctx context.Context, domain string, ct *contact.Contact, consentAt time.Time) error {
	consent := shopify.EmailConsentInput(shopify.ConsentSubscribed, consentAt)
	email := *ct.Email
	if ct.CustomerID == nil {
		// A new customer carries the consent itself.
		var out struct {
			Create *struct {
				Customer *struct {
					ID string `json:"id"`
				} `json:"customer"`
				UserErrors []shopify.UserError `json:"userErrors"`
			} `json:"customerCreate"`
		}
		vars := map[string]any{"input": map[string]any{"email": email, "emailMarketingConsent": consent}}
		if err := s.o.Admin.Do(ctx, domain, customerCreateMutation, vars, &out); err != nil {
			return err
		}
		if out.Create == nil {
			return errors.New("empty customerCreate result")
		}
		if len(out.Create.UserErrors) == 0 && out.Create.Customer != nil {
			return s.recordCustomer(ctx, ct, out.Create.Customer.ID)
		}
		if len(out.Create.UserErrors) == 0 {
			return errors.New("customerCreate returned no customer and no userErrors")
		}
		if !emailTaken(out.Create.UserErrors) {
			return shopify.CheckUserErrors(out.Create.UserErrors)
		}
		// The shopper is already a customer we had not seen: find them,
		// record the id, then update their consent.
		var found struct {
			Customers struct {
				Nodes []struct {
					ID string `json:"id"`
				} `json:"nodes"`
			} `json:"customers"`
		}
		q := map[string]any{"query": "email:" + strconv.Quote(email)}
		if err := s.o.Admin.Do(ctx, domain, customerByEmailQuery, q, &found); err != nil {
			return err
		}
		if len(found.Customers.Nodes) == 0 {
			return fmt.Errorf("customerCreate says the email is taken but no customer has it")
		}
		if err := s.recordCustomer(ctx, ct, found.Customers.Nodes[0].ID); err != nil {
			return err
		}
	}
	return shopify.UpdateEmailConsent(ctx, s.o.Admin, domain, *ct.CustomerID, shopify.ConsentSubscribed, consentAt)
}

// recordCustomer stores the Shopify customer id on the contact (and on ct).
func (s *Service) recordCustomer(ctx context.Context, ct *contact.Contact, gid string) error {
	id, err := strconv.ParseInt(strings.TrimPrefix(gid, "gid://shopify/Customer/"), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("unexpected customer id %q", gid)
	}
	if _, err := s.o.Contacts.Upsert(ctx, ct.ShopID, contact.Profile{Email: *ct.Email, CustomerID: id}); err != nil {
		return err
	}
	ct.CustomerID = &id
	return nil
}

func emailTaken(errs []shopify.UserError) bool {
	for _, e := range errs {
		if len(e.Field) > 0 && e.Field[len(e.Field)-1] == "email" && strings.Contains(strings.ToLower(e.Message), "taken") {
			return true
		}
	}
	return false
}
