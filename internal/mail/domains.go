package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/resend/resend-go/v2"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Resend's domain statuses.
const (
	DomainNotStarted       = "not_started"
	DomainPending          = "pending"
	DomainVerified         = "verified"
	DomainFailed           = "failed"
	DomainTemporaryFailure = "temporary_failure"
)

var (
	// ErrNeedsResend: sending domains exist only at Resend; without
	// RESEND_API_KEY (the outbox) there is nothing to register them with.
	ErrNeedsResend = errors.New("mail: sending domains need Resend")
	// ErrDomainTaken: another shop already registered this domain.
	ErrDomainTaken = errors.New("mail: domain already used by another shop")
	// ErrDomainExists: the shop already has another sending domain.
	ErrDomainExists = errors.New("mail: shop already has a sending domain")
	// ErrResendUnavailable: Resend did not answer (network, 5xx, rate
	// limit) or refused our API key; try again later.
	ErrResendUnavailable = errors.New("mail: resend unavailable")
)

// DomainRejectedError is Resend refusing a domain (invalid name, …).
type DomainRejectedError struct {
	Status int
	Reason string
}

func (e *DomainRejectedError) Error() string {
	return fmt.Sprintf("mail: resend refused the domain (%d): %s", e.Status, e.Reason)
}

// DNSRecord is a record the merchant publishes, as Resend lists it.
type DNSRecord struct {
	Record   string `json:"record"` // SPF, DKIM, …
	Name     string `json:"name"`   // relative to the domain ("send", "resend._domainkey")
	Type     string `json:"type"`   // MX, TXT, CNAME
	TTL      string `json:"ttl"`
	Status   string `json:"status"`
	Value    string `json:"value"`
	Priority *int   `json:"priority,omitempty"`
}

// SendingDomain is a shop's own sending domain.
type SendingDomain struct {
	ShopID     int64
	Domain     string
	ResendID   string
	Status     string
	Region     string
	Records    []DNSRecord
	VerifiedAt *time.Time
	CheckedAt  *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Verified tells whether emails may go out from the domain.
func (d *SendingDomain) Verified() bool { return d.Status == DomainVerified }

type domainRow struct {
	ShopID     int64 `gorm:"primaryKey"`
	Domain     string
	ResendID   string
	Status     string
	Region     string
	Records    []byte
	VerifiedAt *time.Time
	CheckedAt  *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (domainRow) TableName() string { return "mail_sending_domains" }

func (r *domainRow) domain() (*SendingDomain, error) {
	d := &SendingDomain{ShopID: r.ShopID, Domain: r.Domain, ResendID: r.ResendID, Status: r.Status, Region: r.Region,
		VerifiedAt: r.VerifiedAt, CheckedAt: r.CheckedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Records: []DNSRecord{}}
	if len(r.Records) > 0 {
		if err := json.Unmarshal(r.Records, &d.Records); err != nil {
			return nil, fmt.Errorf("mail: decode DNS records of shop %d: %w", r.ShopID, err)
		}
	}
	return d, nil
}

// DomainsOptions configure Domains. DB is required; without APIKey only
// reads work (Add and Refresh answer ErrNeedsResend).
type DomainsOptions struct {
	DB      *gorm.DB
	APIKey  string
	BaseURL *url.URL
	HTTP    *http.Client
	// Pacer, when set, paces the calls with the emails (one rate limit per
	// Resend team).
	Pacer *Pacer
	Now   func() time.Time
}

// Domains registers and verifies shops' sending domains at Resend.
type Domains struct {
	db     *gorm.DB
	client *resend.Client // nil without an API key
	pacer  *Pacer
	now    func() time.Time
}

// NewDomains returns Domains.
func NewDomains(o DomainsOptions) *Domains {
	d := &Domains{db: o.DB, pacer: o.Pacer, now: o.Now}
	if d.now == nil {
		d.now = time.Now
	}
	if strings.TrimSpace(o.APIKey) != "" {
		d.client = newClient(o.HTTP, o.APIKey, o.BaseURL)
	}
	return d
}

// Domains returns the sending domains through this sender's client and
// pacer.
func (r *Resend) Domains() *Domains {
	return &Domains{db: r.db, client: r.client, pacer: r.pacer, now: r.now}
}

// DomainsFor returns the sending domains of the app whose mail sender is s:
// through Resend when s is the Resend sender, else read-only (the outbox).
func DomainsFor(db *gorm.DB, s Sender) *Domains {
	if r, ok := s.(*Resend); ok {
		return r.Domains()
	}
	return NewDomains(DomainsOptions{DB: db})
}

// newClient is the SDK client with the status-capturing transport.
func newClient(httpClient *http.Client, apiKey string, base *url.URL) *resend.Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	hc := *httpClient
	t := hc.Transport
	if t == nil {
		t = http.DefaultTransport
	}
	hc.Transport = captureTransport{base: t}
	c := resend.NewCustomClient(&hc, apiKey)
	if base != nil {
		u := *base
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/"
		}
		c.BaseURL = &u
	}
	return c
}

// NormalizeDomain lowercases name and drops a trailing dot; ok is false
// unless it is a plain DNS host name with at least two labels (ASCII; an
// internationalized name must be given in its xn-- form).
func NormalizeDomain(name string) (string, bool) {
	n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
	if n == "" || len(n) > 253 {
		return n, false
	}
	labels := strings.Split(n, ".")
	if len(labels) < 2 {
		return n, false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return n, false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return n, false
			}
		}
	}
	tld := labels[len(labels)-1]
	if _, err := strconv.Atoi(tld); err == nil || len(tld) < 2 {
		return n, false // an IP address or a bogus TLD
	}
	return n, true
}

// Available tells whether domains can be added (an API key is set).
func (d *Domains) Available() bool { return d.client != nil }

// Get returns the shop's sending domain as last seen (no call to Resend);
// ErrNotFound when it has none.
func (d *Domains) Get(ctx context.Context, shopID int64) (*SendingDomain, error) {
	var rows []domainRow
	if err := d.db.WithContext(ctx).Where("shop_id = ?", shopID).Limit(1).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("mail: read sending domain: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("mail: sending domain of shop %d: %w", shopID, ErrNotFound)
	}
	return rows[0].domain()
}

// Add registers name as the shop's sending domain at Resend and asks Resend
// to start verifying it. Idempotent: adding the shop's domain again returns
// it as stored. A shop has one domain (ErrDomainExists for another) and a
// domain one shop (ErrDomainTaken).
func (d *Domains) Add(ctx context.Context, shopID int64, name string) (*SendingDomain, error) {
	name, ok := NormalizeDomain(name)
	if !ok {
		return nil, &DomainRejectedError{Status: http.StatusUnprocessableEntity, Reason: "not a valid domain name"}
	}
	cur, err := d.Get(ctx, shopID)
	switch {
	case err == nil && cur.Domain == name:
		return cur, nil
	case err == nil:
		return nil, fmt.Errorf("%w (%s)", ErrDomainExists, cur.Domain)
	case !errors.Is(err, ErrNotFound):
		return nil, err
	}
	var owners []int64
	if err := d.db.WithContext(ctx).Raw(`SELECT shop_id FROM mail_sending_domains WHERE domain = ?`, name).Scan(&owners).Error; err != nil {
		return nil, fmt.Errorf("mail: read sending domains: %w", err)
	}
	if len(owners) > 0 {
		return nil, ErrDomainTaken
	}
	if d.client == nil {
		return nil, ErrNeedsResend
	}

	var created resend.CreateDomainResponse
	_, err = d.call(ctx, func(ctx context.Context) (err error) {
		created, err = d.client.Domains.CreateWithContext(ctx, &resend.CreateDomainRequest{Name: name})
		return err
	})
	var res resend.Domain
	var rej *DomainRejectedError
	switch {
	case err == nil:
		res = resend.Domain{Id: created.Id, Name: created.Name, Status: created.Status, Region: created.Region, Records: created.Records}
	case errors.As(err, &rej):
		// Already in the account (an Add that stored nothing, a race)?
		// Adopt it: no other shop holds it, checked above.
		found, lerr := d.find(ctx, name)
		if lerr != nil || found == "" {
			return nil, err
		}
		if res, err = d.get(ctx, found); err != nil {
			return nil, err
		}
	default:
		return nil, err
	}
	if res.Id == "" {
		return nil, errors.New("mail: resend answered a domain without an id")
	}
	row, err := d.rowFrom(shopID, name, res)
	if err != nil {
		return nil, err
	}
	ins := d.db.WithContext(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(row)
	if ins.Error != nil {
		return nil, fmt.Errorf("mail: store sending domain: %w", ins.Error)
	}
	if ins.RowsAffected == 0 {
		// A concurrent Add: this shop's (same domain: the same row) or
		// another shop's (the unique domain index).
		if cur, err := d.Get(ctx, shopID); err == nil {
			if cur.Domain == name {
				return cur, nil
			}
			return nil, fmt.Errorf("%w (%s)", ErrDomainExists, cur.Domain)
		}
		return nil, ErrDomainTaken
	}
	// Start Resend's asynchronous check now, so it keeps checking while
	// the merchant publishes the records. A failure here is not fatal:
	// Refresh asks again.
	if res.Status != DomainVerified {
		if _, err := d.call(ctx, func(ctx context.Context) error {
			_, err := d.client.Domains.VerifyWithContext(ctx, res.Id)
			return err
		}); err == nil {
			res.Status = DomainPending
			if err := d.save(ctx, shopID, res); err != nil {
				return nil, err
			}
		}
	}
	return d.Get(ctx, shopID)
}

// Refresh reads the shop's domain from Resend (status and records) and,
// unless it is verified, asks Resend to verify it again (the merchant has
// just published the records), then stores what Resend reports.
func (d *Domains) Refresh(ctx context.Context, shopID int64) (*SendingDomain, error) {
	cur, err := d.Get(ctx, shopID)
	if err != nil {
		return nil, err
	}
	if d.client == nil {
		return nil, ErrNeedsResend
	}
	res, err := d.get(ctx, cur.ResendID)
	if err != nil {
		return nil, err
	}
	if res.Status != DomainVerified {
		if _, err := d.call(ctx, func(ctx context.Context) error {
			_, err := d.client.Domains.VerifyWithContext(ctx, cur.ResendID)
			return err
		}); err != nil {
			return nil, err
		}
		if res, err = d.get(ctx, cur.ResendID); err != nil {
			return nil, err
		}
	}
	if err := d.save(ctx, shopID, res); err != nil {
		return nil, err
	}
	return d.Get(ctx, shopID)
}

func (d *Domains) get(ctx context.Context, id string) (resend.Domain, error) {
	var res resend.Domain
	cp, err := d.call(ctx, func(ctx context.Context) (err error) {
		res, err = d.client.Domains.GetWithContext(ctx, id)
		return err
	})
	if err != nil {
		if cp.status == http.StatusNotFound {
			return res, fmt.Errorf("mail: domain %s is gone from Resend: %w", id, ErrNotFound)
		}
		return res, err
	}
	return res, nil
}

// find returns the Resend id of the domain named name, if the account has
// it.
func (d *Domains) find(ctx context.Context, name string) (string, error) {
	var list resend.ListDomainsResponse
	if _, err := d.call(ctx, func(ctx context.Context) (err error) {
		list, err = d.client.Domains.ListWithContext(ctx)
		return err
	}); err != nil {
		return "", err
	}
	for _, x := range list.Data {
		if strings.EqualFold(x.Name, name) {
			return x.Id, nil
		}
	}
	return "", nil
}

func (d *Domains) rowFrom(shopID int64, name string, res resend.Domain) (*domainRow, error) {
	records, err := recordsJSON(res.Records)
	if err != nil {
		return nil, err
	}
	now := d.now()
	row := &domainRow{ShopID: shopID, Domain: name, ResendID: res.Id, Status: res.Status, Region: res.Region, Records: records,
		CheckedAt: &now, CreatedAt: now, UpdatedAt: now}
	if res.Status == DomainVerified {
		row.VerifiedAt = &now
	}
	return row, nil
}

// save stores what Resend reports of the shop's domain. Records are kept
// when the answer has none (the verify answer, the list).
func (d *Domains) save(ctx context.Context, shopID int64, res resend.Domain) error {
	now := d.now()
	set := map[string]any{"status": res.Status, "checked_at": now, "updated_at": now}
	if res.Region != "" {
		set["region"] = res.Region
	}
	if len(res.Records) > 0 {
		records, err := recordsJSON(res.Records)
		if err != nil {
			return err
		}
		set["records"] = records
	}
	if res.Status == DomainVerified {
		set["verified_at"] = gorm.Expr("COALESCE(verified_at, ?)", now)
	} else {
		set["verified_at"] = nil
	}
	if err := d.db.WithContext(ctx).Model(&domainRow{}).Where("shop_id = ?", shopID).Updates(set).Error; err != nil {
		return fmt.Errorf("mail: store sending domain: %w", err)
	}
	return nil
}

func recordsJSON(rs []resend.Record) ([]byte, error) {
	out := make([]DNSRecord, 0, len(rs))
	for _, r := range rs {
		x := DNSRecord{Record: r.Record, Name: r.Name, Type: r.Type, TTL: r.Ttl, Status: r.Status, Value: r.Value}
		if r.Priority != "" {
			if p, err := strconv.Atoi(r.Priority.String()); err == nil {
				x.Priority = &p
			}
		}
		out = append(out, x)
	}
	return json.Marshal(out)
}

// call runs one SDK call with the shared pacer, retrying 429, 5xx and
// network errors a few times. The capture tells the caller the status of
// the last answer (the SDK's errors do not).
func (d *Domains) call(ctx context.Context, fn func(context.Context) error) (*capture, error) {
	backoff := 200 * time.Millisecond
	for attempt := 1; ; attempt++ {
		if d.pacer != nil {
			if err := d.pacer.Wait(ctx); err != nil {
				return &capture{}, err
			}
		}
		cp := &capture{}
		err := fn(context.WithValue(ctx, captureKey{}, cp))
		if d.pacer != nil && cp.status != 0 {
			_ = d.pacer.Observe(ctx, cp.status, cp.header)
		}
		if err == nil {
			return cp, nil
		}
		retry := cp.status == 0 || cp.status >= 500 || (cp.status == http.StatusTooManyRequests && !strings.Contains(cp.code, "quota"))
		if !retry || attempt >= 4 || ctx.Err() != nil {
			if cp.status == 0 || cp.status >= 500 || cp.status == http.StatusTooManyRequests || cp.status == http.StatusUnauthorized ||
				strings.HasSuffix(cp.code, "api_key") {
				// Not the domain's fault: unavailable, or our key.
				return cp, fmt.Errorf("%w (status %d): %w", ErrResendUnavailable, cp.status, err)
			}
			if cp.status >= 400 {
				return cp, rejected(cp, err)
			}
			return cp, err
		}
		wait := backoff
		if cp.status == http.StatusTooManyRequests {
			if s, perr := strconv.Atoi(cp.header.Get("retry-after")); perr == nil && s > 0 {
				wait = min(time.Duration(s)*time.Second, 5*time.Second)
			}
		}
		backoff *= 2
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return cp, ctx.Err()
		case <-t.C:
		}
	}
}

func rejected(cp *capture, err error) error {
	var rej *DomainRejectedError
	if errors.As(err, &rej) {
		return rej
	}
	msg := cp.message
	if msg == "" && err != nil {
		msg = strings.TrimPrefix(err.Error(), "[ERROR]: ")
	}
	return &DomainRejectedError{Status: cp.status, Reason: msg}
}

// FromAddress is the address a shop's emails go out from: local@domain of
// the shop's own domain once Resend has verified it, else fallback (the
// app's MAIL_FROM, whose local part is reused).
func FromAddress(ctx context.Context, db *gorm.DB, shopID int64, fallback string) (string, error) {
	var names []string
	if err := db.WithContext(ctx).Raw(`SELECT domain FROM mail_sending_domains WHERE shop_id = ? AND status = ?`, shopID, DomainVerified).
		Scan(&names).Error; err != nil {
		return "", fmt.Errorf("mail: read sending domain of shop %d: %w", shopID, err)
	}
	at := strings.LastIndex(fallback, "@")
	if len(names) == 0 || at <= 0 {
		return fallback, nil
	}
	return fallback[:at] + "@" + names[0], nil
}
