package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/relance/relance/internal/mail"
)

// SendingDomainJSON is a shop's own sending domain and the DNS records to
// publish for it.
type SendingDomainJSON struct {
	Name       string           `json:"name"`
	Status     string           `json:"status"`
	Verified   bool             `json:"verified"`
	Region     string           `json:"region"`
	Records    []mail.DNSRecord `json:"records"`
	CheckedAt  *time.Time       `json:"checked_at"`
	VerifiedAt *time.Time       `json:"verified_at"`
	CreatedAt  time.Time        `json:"created_at"`
}

// SendingDomainStateJSON answers every /api/sending-domain route: whether
// domains can be added (Resend configured), the address emails go out
// from now, and the shop's domain (null without one).
type SendingDomainStateJSON struct {
	Available bool               `json:"available"`
	FromEmail string             `json:"from_email"`
	Domain    *SendingDomainJSON `json:"domain"`
}

func (a *admin) domains() *mail.Domains {
	if a.Domains != nil {
		return a.Domains
	}
	return mail.DomainsFor(a.DB, a.Sender)
}

// sendingDomainState renders the shop's state after d (nil: none).
func (a *admin) sendingDomainState(c echo.Context, shopID int64, d *mail.SendingDomain) error {
	from, err := mail.FromAddress(c.Request().Context(), a.DB, shopID, a.FromEmail)
	if err != nil {
		return err
	}
	out := SendingDomainStateJSON{Available: a.domains().Available(), FromEmail: from}
	if d != nil {
		out.Domain = &SendingDomainJSON{Name: d.Domain, Status: d.Status, Verified: d.Verified(), Region: d.Region, Records: d.Records,
			CheckedAt: d.CheckedAt, VerifiedAt: d.VerifiedAt, CreatedAt: d.CreatedAt}
	}
	noStore(c)
	return c.JSON(http.StatusOK, out)
}

// getSendingDomain answers GET /api/sending-domain: as last checked (no
// call to Resend).
func (a *admin) getSendingDomain(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	d, err := a.domains().Get(c.Request().Context(), s.ID)
	if err != nil && !errors.Is(err, mail.ErrNotFound) {
		return err
	}
	return a.sendingDomainState(c, s.ID, d)
}

// addSendingDomain answers POST /api/sending-domain {domain}: registers it
// at Resend (idempotent for the shop's own domain).
func (a *admin) addSendingDomain(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	var in struct {
		Domain string `json:"domain"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	name, ok := mail.NormalizeDomain(in.Domain)
	if name == "" {
		return invalid(c, fieldErrors{"domain": "is required"})
	}
	if !ok {
		return invalid(c, fieldErrors{"domain": "must be a domain name such as mail.myshop.com"})
	}
	d, err := a.domains().Add(c.Request().Context(), s.ID, name)
	if err != nil {
		return a.domainError(c, err)
	}
	return a.sendingDomainState(c, s.ID, d)
}

// verifySendingDomain answers POST /api/sending-domain/verify: reads the
// status and records from Resend and asks it to check the DNS again.
func (a *admin) verifySendingDomain(c echo.Context) error {
	s, err := sessionShop(c)
	if err != nil {
		return err
	}
	d, err := a.domains().Refresh(c.Request().Context(), s.ID)
	if err != nil {
		return a.domainError(c, err)
	}
	return a.sendingDomainState(c, s.ID, d)
}

func (a *admin) domainError(c echo.Context, err error) error {
	var rej *mail.DomainRejectedError
	switch {
	case errors.As(err, &rej):
		return invalid(c, fieldErrors{"domain": rej.Reason})
	case errors.Is(err, mail.ErrNeedsResend):
		return echo.NewHTTPError(http.StatusConflict, "sending domains need Resend")
	case errors.Is(err, mail.ErrDomainExists):
		return echo.NewHTTPError(http.StatusConflict, "this shop already has a sending domain")
	case errors.Is(err, mail.ErrDomainTaken):
		return echo.NewHTTPError(http.StatusConflict, "this domain is already used by another shop")
	case errors.Is(err, mail.ErrNotFound):
		return notFound("sending domain")
	case errors.Is(err, mail.ErrResendUnavailable):
		return echo.NewHTTPError(http.StatusBadGateway, "Resend is unavailable, try again shortly")
	}
	return err
}
