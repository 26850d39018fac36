package mail

import (
	"html"
	"maps"
	"math"
	"math/big"
	"net/url"
	"regexp"
	"slices"
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

func noEscape(s string) string { return s }

// safeURL keeps http(s) links only, so no javascript: or data: URL from a
// payload ever becomes a link.
func safeURL(raw string) string {
	raw = strings.TrimSpace(raw)
	if plainURL(raw) {
		return raw
	}
	return parsedURL(raw)
}

// parsedURL is safeURL through net/url.
func parsedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

// plainURL: raw is an http(s) URL that url.Parse and String give back as
// it is: a lower-case host of letters, digits, dots and dashes, a path of
// unreserved characters, and a query of a few more (kept verbatim by
// net/url). Most links in an email are like this, and parsing them is a
// good part of a render.
func plainURL(raw string) bool {
	rest, ok := strings.CutPrefix(raw, "https://")
	if !ok {
		if rest, ok = strings.CutPrefix(raw, "http://"); !ok {
			return false
		}
	}
	i := 0
	for i < len(rest) && (rest[i] >= 'a' && rest[i] <= 'z' || rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.' || rest[i] == '-') {
		i++
	}
	if i == 0 || i < len(rest) && rest[i] != '/' && rest[i] != '?' {
		return false
	}
	for ; i < len(rest) && rest[i] != '?'; i++ {
		if !urlPath[rest[i]] {
			return false
		}
	}
	if i == len(rest) {
		return true
	}
	if i == len(rest)-1 {
		return false // a bare "?"
	}
	for _, c := range []byte(rest[i+1:]) {
		if !urlQuery[c] {
			return false
		}
	}
	return true
}

var urlPath, urlQuery = urlChars("/"), urlChars("/=&%+,:@!$*")

func urlChars(extra string) (set [256]bool) {
	for c := range 256 {
		set[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~"+extra, byte(c)) >= 0
	}
	return set
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

// cartLines prepares the cart lines once per render: the cart block and
// the Liquid variables show the same values, and formatting prices and
// checking URLs is a good part of a render.
func (d *Data) cartLines(loc string) []cartLine {
	lines := make([]cartLine, len(d.Lines))
	for i, l := range d.Lines {
		lines[i] = viewLine(l, loc)
	}
	return lines
}

func viewLine(l Line, loc string) cartLine {
	return cartLine{
		Title: l.Title, Variant: variantTitle(l.Variant), ImageURL: safeURL(l.ImageURL), URL: safeURL(l.URL),
		Price: l.Price.Format(loc), LinePrice: lineTotal(l).Format(loc), Quantity: max(l.Quantity, 1),
	}
}

// bindings builds the Liquid variables of both parts at once, with lines
// from cartLines: hb for the HTML body, every string escaped and trusted
// HTML kept; tb for subject and preheader, strings as they are and HTML
// reduced to its text. The top-level maps are the caller's to add to. URLs
// are filtered by safeURL. The names follow Shopify's own Liquid where one
// exists (line_items, variant_title, abandoned_checkout_url) so merchants
// feel at home.
func (d *Data) bindings(loc string, cart []cartLine) (hb, tb map[string]any) {
	m := func(x Money) string { return x.Format(loc) }
	u := safeURL
	name := firstName(d.Customer.FirstName)
	t := texts(loc)
	greeting := t.greeting
	if name != "" {
		greeting = t.greetingName(name)
	}

	count := 0
	lines := make([]parts, len(cart))
	for i, l := range cart {
		count += l.Quantity
		lines[i] = lineParts(l)
	}
	shop := newParts(10)
	shop.str("name", d.Shop.Name)
	shop.str("url", u(d.Shop.URL))
	shop.str("email", d.Shop.ReplyTo)
	shop.str("owner_name", d.Shop.OwnerName)
	shop.str("address", d.Shop.Address)
	shop.str("logo_url", u(d.Shop.LogoURL))
	shop.str("support_url", u(d.Shop.SupportURL))
	shop.str("brand_color", brandColor(d.Shop.BrandColor))
	shop.set("returns_days", d.Shop.ReturnsDays)
	free := ""
	if !d.Shop.FreeShippingOver.IsZero() {
		free = m(d.Shop.FreeShippingOver)
	}
	shop.str("free_shipping_over", free)

	customer := newParts(3)
	customer.str("first_name", name)
	customer.set("has_first_name", name != "")
	customer.str("email", d.Customer.Email)

	recovery := u(d.RecoveryURL)
	checkout := newParts(6)
	checkout.list("line_items", lines)
	checkout.set("item_count", count)
	checkout.str("subtotal_price", m(d.Subtotal))
	checkout.str("total_price", m(d.Total))
	checkout.str("currency", d.Total.Currency)
	checkout.str("abandoned_checkout_url", recovery)

	b := newParts(16)
	b.str("locale", loc)
	b.sub("shop", shop)
	b.sub("customer", customer)
	b.str("greeting", greeting)
	b.sub("checkout", checkout)
	b.str("recovery_url", recovery)
	b.str("unsubscribe_url", u(d.UnsubscribeURL))
	b.str("preferences_url", u(d.PreferencesURL))
	b.str("not_interested_url", u(d.NotInterestedURL))
	b.set("discount", nil)
	b.set("order", nil)
	if d.Order != nil {
		ol := make([]parts, len(d.Order.Lines))
		for i, l := range d.Order.Lines {
			ol[i] = lineParts(viewLine(l, loc))
		}
		order := newParts(4)
		order.str("name", d.Order.Name)
		order.str("status_url", u(d.Order.StatusURL))
		order.str("total_price", m(d.Order.Total))
		order.list("line_items", ol)
		b.sub("order", order)
	}
	if x := d.Discount; x != nil && x.Code != "" {
		minimum := ""
		if !x.Minimum.IsZero() {
			minimum = m(x.Minimum)
		}
		discount := newParts(7)
		discount.str("code", x.Code)
		discount.str("kind", x.Kind)
		discount.str("value", discountValue(x, loc))
		discount.str("minimum", minimum)
		discount.str("ends_at", formatDateTime(x.EndsAt, d.Shop.Location, loc))
		discount.set("expires_in_hours", hoursUntil(d.now(), x.EndsAt))
		discount.str("apply_url", u(applyURL(d.Shop.URL, x.Code, d.RecoveryURL)))
		b.sub("discount", discount)
	}
	products := make([]parts, len(d.Products))
	for i, p := range d.Products {
		pp := newParts(5)
		pp.str("title", p.Title)
		pp.str("url", u(p.URL))
		pp.str("image_url", u(p.ImageURL))
		pp.str("price", m(p.Price))
		pp.value("description", p.Description)
		products[i] = pp
	}
	b.list("products", products)
	vars := d.Vars
	if vars == nil {
		vars = map[string]any{}
	}
	b.value("vars", vars)
	return b.h, b.t
}

func lineParts(l cartLine) parts {
	p := newParts(7)
	p.str("title", l.Title)
	p.str("variant_title", l.Variant)
	p.set("quantity", l.Quantity)
	p.str("price", l.Price)
	p.str("line_price", l.LinePrice)
	p.str("image_url", l.ImageURL)
	p.str("url", l.URL)
	return p
}

// parts is one map of Liquid variables per part: h for the HTML body, t
// for subject and preheader.
type parts struct{ h, t map[string]any }

func newParts(n int) parts {
	return parts{h: make(map[string]any, n+1), t: make(map[string]any, n+1)}
}

// str sets shopper data: escaped for the HTML part.
func (p parts) str(k, v string) { p.h[k], p.t[k] = html.EscapeString(v), v }

// set sets a number, a boolean or nil: the same in both parts.
func (p parts) set(k string, v any) { p.h[k], p.t[k] = v, v }

func (p parts) sub(k string, q parts) { p.h[k], p.t[k] = q.h, q.t }

func (p parts) list(k string, qs []parts) {
	h, t := make([]map[string]any, len(qs)), make([]map[string]any, len(qs))
	for i, q := range qs {
		h[i], t[i] = q.h, q.t
	}
	p.h[k], p.t[k] = h, t
}

// value sets a value of any type (trusted HTML, the caller's Vars) as
// partValue prepares it for each part.
func (p parts) value(k string, v any) {
	p.h[k], _ = partValue(v, true)
	p.t[k], _ = partValue(v, false)
}

// textOf is trusted HTML shown in subject or preheader: its text, worked
// out only if a template uses it.
type textOf HTML

// ToLiquid implements liquid.Drop.
func (h textOf) ToLiquid() any { return htmlToText(string(h)) }

// partValue escapes strings at any depth; numbers and booleans are safe as
// they are; HTML is trusted. Maps and slices are copied only when something
// in them changes, which for most shopper data is nothing.
func partValue(v any, forHTML bool) (any, bool) {
	switch x := v.(type) {
	case string:
		if !forHTML {
			return x, false
		}
		e := html.EscapeString(x)
		return e, len(e) != len(x) // escaping only ever lengthens
	case HTML:
		if forHTML {
			return string(x), true
		}
		return textOf(x), true
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			if pe, changed := partValue(e, forHTML); changed {
				if out == nil {
					out = maps.Clone(x)
				}
				out[k] = pe
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	case []map[string]any:
		return partSlice(x, forHTML, func(e map[string]any) any { return e }, func(a any) map[string]any { return a.(map[string]any) })
	case []any:
		return partSlice(x, forHTML, func(e any) any { return e }, func(a any) any { return a })
	case []string:
		return partSlice(x, forHTML, func(e string) any { return e }, func(a any) string { return a.(string) })
	case int, int32, int64, float64, bool, nil:
		return x, false
	default:
		// Unknown types could stringify to markup: show them as text.
		s, _ := partValue(toString(x), forHTML)
		return s, true
	}
}

// partSlice is partValue for a slice of E, copied on first change.
func partSlice[E any](x []E, forHTML bool, in func(E) any, out func(any) E) (any, bool) {
	var cp []E
	for i, e := range x {
		if pe, changed := partValue(in(e), forHTML); changed {
			if cp == nil {
				cp = slices.Clone(x)
			}
			cp[i] = out(pe)
		}
	}
	if cp == nil {
		return x, false
	}
	return cp, true
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
