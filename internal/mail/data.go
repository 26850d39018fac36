package mail

import (
	"html"
	"math"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// HTML is markup the caller vouches for (a product description the merchant
// wrote in Shopify, a snippet built by our own code). It reaches the HTML
// part as is; every plain string is escaped.
type HTML string

// Data is everything a template can show. The caller fills what the step is
// about; empty parts simply render nothing. Amounts are in the presentment
// currency, the one the shopper saw.
type Data struct {
	// Locale of the email ("en", "fr"); empty: PickLocale(Customer.Locale, Shop.Locale).
	Locale   string
	Shop     Shop
	Customer Customer
	// Lines of the cart or checkout being recovered.
	Lines    []Line
	Subtotal Money
	Total    Money
	// RecoveryURL is the checkout's abandoned_checkout_url or a cart permalink.
	RecoveryURL string
	Order       *Order
	Discount    *Discount
	// Products are the ones the step talks about (viewed, recommended, to
	// replenish).
	Products []Product
	// UnsubscribeURL is the signed /u/:token link; PreferencesURL the page to
	// manage them; NotInterestedURL exits the abandonment sequence only.
	UnsubscribeURL   string
	PreferencesURL   string
	NotInterestedURL string
	// Vars carries flow-specific values (quiz segment, …) under "vars".
	// Strings are escaped in the HTML part; HTML values are not.
	Vars map[string]any
	// Now anchors relative wording ("expires in 48 hours"); zero: time.Now.
	Now time.Time
}

// Shop is the sender as the shopper knows it.
type Shop struct {
	Name string
	// URL of the storefront.
	URL    string
	Locale string
	// Location is the shop's time zone, for deadlines (nil: UTC).
	Location *time.Location
	// OwnerName signs the email ("Claire from Maison Dupont").
	OwnerName string
	// ReplyTo is the monitored inbox shoppers write back to.
	ReplyTo string
	// Address is the shop's postal address, shown in every footer.
	Address string
	LogoURL string
	// BrandColor is the button colour ("#1d4ed8"); invalid or empty: near black.
	BrandColor string
	// Reassurance shown near the call to action; zero values hide a line.
	ReturnsDays      int
	FreeShippingOver Money
	SupportURL       string
}

// Customer is the recipient.
type Customer struct {
	FirstName string
	LastName  string
	Email     string
	Locale    string
}

// Line is one cart, checkout or order line.
type Line struct {
	Title    string
	Variant  string // variant title; "Default Title" is hidden
	Quantity int
	// Price is the unit price; LinePrice the line total (computed from
	// Price × Quantity when empty).
	Price     Money
	LinePrice Money
	ImageURL  string
	URL       string
}

// Order is a placed order (post-purchase, replenishment).
type Order struct {
	Name      string // "#1001"
	StatusURL string
	Total     Money
	Lines     []Line
	CreatedAt time.Time
}

// Discount kinds, matching the discount package's tiers.
const (
	DiscountPercentage   = "percentage"
	DiscountFixedAmount  = "fixed_amount"
	DiscountFreeShipping = "free_shipping"
)

// Discount is the code offered in this email.
type Discount struct {
	Code string
	Kind string
	// Percent for DiscountPercentage (10 = 10 %).
	Percent float64
	// Amount for DiscountFixedAmount.
	Amount Money
	// Minimum order subtotal, zero when none.
	Minimum Money
	EndsAt  time.Time
}

// Product is a product the email shows.
type Product struct {
	Title    string
	URL      string
	ImageURL string
	Price    Money
	// Description is the merchant's own HTML from Shopify.
	Description HTML
}

// maxCartLines is how many lines the cart block shows; more would push the
// email past Gmail's clipping size and bury the call to action.
const maxCartLines = 8

// escaper turns shopper data into what a part may contain: html.EscapeString
// for the HTML part, identity for subject and preheader.
type escaper func(string) string

func noEscape(s string) string { return s }

// safeURL keeps http(s) links only, so no javascript: or data: URL from a
// payload ever becomes a link.
func safeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

var hexColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

func brandColor(c string) string {
	if hexColor.MatchString(c) {
		return c
	}
	return "#111827"
}

// firstName tidies what shoppers type ("MARIE", "  marie ") and drops what
// is not a name (an email address, digits), so the greeting falls back to a
// neutral one instead of "Hi 06123456,".
func firstName(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		return ""
	}
	s = f[0]
	if utf8.RuneCountInString(s) > 40 || strings.ContainsAny(s, "@/<>{}") {
		return ""
	}
	for _, r := range s {
		if unicode.IsDigit(r) {
			return ""
		}
	}
	if s == strings.ToUpper(s) || s == strings.ToLower(s) {
		rs := []rune(strings.ToLower(s))
		up := true
		for i, r := range rs {
			if up {
				rs[i] = unicode.ToUpper(r)
			}
			up = r == '-' || r == '\''
		}
		s = string(rs)
	}
	return s
}

func (d *Data) locale() string {
	if l := language(d.Locale); l != "" {
		return l
	}
	return PickLocale(d.Customer.Locale, d.Shop.Locale)
}

func (d *Data) now() time.Time {
	if d.Now.IsZero() {
		return time.Now()
	}
	return d.Now
}

func lineTotal(l Line) Money {
	if !l.LinePrice.IsZero() || l.Price.IsZero() {
		return l.LinePrice
	}
	q := int64(max(l.Quantity, 1))
	if c, ok := parseCents(strings.TrimSpace(l.Price.Amount)); ok && c <= math.MaxInt64/q {
		return Money{Amount: formatCents(c * q), Currency: l.Price.Currency}
	}
	p, ok := new(big.Rat).SetString(strings.TrimSpace(l.Price.Amount))
	if !ok {
		return l.LinePrice
	}
	p.Mul(p, big.NewRat(int64(max(l.Quantity, 1)), 1))
	return Money{Amount: p.FloatString(2), Currency: l.Price.Currency}
}

func variantTitle(v string) string {
	if strings.EqualFold(strings.TrimSpace(v), "Default Title") {
		return ""
	}
	return strings.TrimSpace(v)
}

// bindings builds the Liquid variables, unescaped: partBindings escapes
// them for the part being rendered. URLs are filtered by safeURL. The names follow Shopify's own Liquid where one exists
// (line_items, variant_title, abandoned_checkout_url) so merchants feel at home.
func (d *Data) bindings() map[string]any {
	esc := escaper(noEscape)
	loc := d.locale()
	m := func(x Money) string { return esc(x.Format(loc)) }
	u := func(s string) string { return esc(safeURL(s)) }
	name := firstName(d.Customer.FirstName)
	t := texts(loc)
	greeting := t.greeting
	if name != "" {
		greeting = t.greetingName(name)
	}

	lines := make([]map[string]any, 0, len(d.Lines))
	count := 0
	for _, l := range d.Lines {
		count += max(l.Quantity, 1)
		lines = append(lines, lineBinding(l, esc, m, u))
	}
	shop := map[string]any{
		"name":               esc(d.Shop.Name),
		"url":                u(d.Shop.URL),
		"email":              esc(d.Shop.ReplyTo),
		"owner_name":         esc(d.Shop.OwnerName),
		"address":            esc(d.Shop.Address),
		"logo_url":           u(d.Shop.LogoURL),
		"support_url":        u(d.Shop.SupportURL),
		"brand_color":        brandColor(d.Shop.BrandColor),
		"returns_days":       d.Shop.ReturnsDays,
		"free_shipping_over": "",
	}
	if !d.Shop.FreeShippingOver.IsZero() {
		shop["free_shipping_over"] = m(d.Shop.FreeShippingOver)
	}
	recovery := u(d.RecoveryURL)
	b := map[string]any{
		"locale": loc,
		"shop":   shop,
		"customer": map[string]any{
			"first_name":     esc(name),
			"has_first_name": name != "",
			"email":          esc(d.Customer.Email),
		},
		"greeting": esc(greeting),
		"checkout": map[string]any{
			"line_items":             lines,
			"item_count":             count,
			"subtotal_price":         m(d.Subtotal),
			"total_price":            m(d.Total),
			"currency":               esc(d.Total.Currency),
			"abandoned_checkout_url": recovery,
		},
		"recovery_url":       recovery,
		"unsubscribe_url":    u(d.UnsubscribeURL),
		"preferences_url":    u(d.PreferencesURL),
		"not_interested_url": u(d.NotInterestedURL),
		"discount":           nil,
		"order":              nil,
	}
	if d.Order != nil {
		ol := make([]map[string]any, 0, len(d.Order.Lines))
		for _, l := range d.Order.Lines {
			ol = append(ol, lineBinding(l, esc, m, u))
		}
		b["order"] = map[string]any{
			"name":        esc(d.Order.Name),
			"status_url":  u(d.Order.StatusURL),
			"total_price": m(d.Order.Total),
			"line_items":  ol,
		}
	}
	if x := d.Discount; x != nil && x.Code != "" {
		b["discount"] = map[string]any{
			"code":             esc(x.Code),
			"kind":             x.Kind,
			"value":            esc(discountValue(x, loc)),
			"minimum":          map[bool]string{true: "", false: m(x.Minimum)}[x.Minimum.IsZero()],
			"ends_at":          esc(formatDateTime(x.EndsAt, d.Shop.Location, loc)),
			"expires_in_hours": hoursUntil(d.now(), x.EndsAt),
			"apply_url":        u(applyURL(d.Shop.URL, x.Code, d.RecoveryURL)),
		}
	}
	products := make([]map[string]any, 0, len(d.Products))
	for _, p := range d.Products {
		products = append(products, map[string]any{
			"title":       esc(p.Title),
			"url":         u(p.URL),
			"image_url":   u(p.ImageURL),
			"price":       m(p.Price),
			"description": p.Description,
		})
	}
	b["products"] = products
	vars := map[string]any{}
	for k, v := range d.Vars {
		vars[k] = v
	}
	b["vars"] = vars
	return b
}

func lineBinding(l Line, esc escaper, m func(Money) string, u func(string) string) map[string]any {
	return map[string]any{
		"title":         esc(l.Title),
		"variant_title": esc(variantTitle(l.Variant)),
		"quantity":      max(l.Quantity, 1),
		"price":         m(l.Price),
		"line_price":    m(lineTotal(l)),
		"image_url":     u(l.ImageURL),
		"url":           u(l.URL),
	}
}

// trusted passes trusted HTML to the HTML part; subject and preheader get
// its text.
func trusted(h HTML, forHTML bool) string {
	if forHTML {
		return string(h)
	}
	return htmlToText(string(h))
}

// partBindings prepares raw bindings for one part: for the HTML body every
// string is escaped and HTML kept; for subject and preheader strings are
// kept and HTML reduced to its text.
func partBindings(raw map[string]any, forHTML bool) map[string]any {
	esc := escaper(noEscape)
	if forHTML {
		esc = html.EscapeString
	}
	return escapeValue(raw, esc, forHTML).(map[string]any)
}

// escapeValue escapes strings at any depth; numbers and booleans are safe as
// they are; HTML is trusted.
func escapeValue(v any, esc escaper, forHTML bool) any {
	switch x := v.(type) {
	case string:
		return esc(x)
	case HTML:
		return trusted(x, forHTML)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = escapeValue(e, esc, forHTML)
		}
		return out
	case []map[string]any:
		out := make([]map[string]any, len(x))
		for i, e := range x {
			out[i] = escapeValue(e, esc, forHTML).(map[string]any)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = escapeValue(e, esc, forHTML)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = esc(e)
		}
		return out
	case int, int32, int64, float64, bool, nil:
		return x
	default:
		// Unknown types could stringify to markup: show them as text.
		return esc(toString(x))
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case interface{ String() string }:
		return x.String()
	case error:
		return x.Error()
	}
	return ""
}

func discountValue(x *Discount, loc string) string {
	t := texts(loc)
	switch x.Kind {
	case DiscountPercentage:
		p := strconv.FormatFloat(x.Percent, 'f', -1, 64)
		if loc == LocaleFR {
			return strings.ReplaceAll(p, ".", ",") + "\u00a0%"
		}
		return p + "%"
	case DiscountFixedAmount:
		return x.Amount.Format(loc)
	case DiscountFreeShipping:
		return t.freeShipping
	}
	return ""
}

func hoursUntil(now, t time.Time) int {
	if t.IsZero() || !t.After(now) {
		return 0
	}
	return int(t.Sub(now).Round(time.Hour) / time.Hour)
}

// applyURL is Shopify's shareable discount link: opening it puts the code in
// the shopper's session, then redirects to the recovered checkout or cart
// (a path on the shop; the link only redirects within the shop).
func applyURL(shopURL, code, recovery string) string {
	base := safeURL(shopURL)
	if base == "" {
		return safeURL(recovery)
	}
	link := strings.TrimRight(base, "/") + "/discount/" + url.PathEscape(code)
	if r, err := url.Parse(safeURL(recovery)); err == nil && r.Path != "" {
		target := r.EscapedPath()
		if r.RawQuery != "" {
			target += "?" + r.RawQuery
		}
		link += "?redirect=" + url.QueryEscape(target)
	}
	return link
}
