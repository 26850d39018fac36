package mail

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/relance/relance/internal/flow"
)

// defaultStep is one step of the default flows, with the flow it belongs
// to: the tests below follow the flows as they change.
type defaultStep struct {
	flow   flow.Flow
	branch string
	index  int
	step   flow.Step
}

func defaultSteps() []defaultStep {
	var out []defaultStep
	for _, f := range flow.Defaults() {
		for _, b := range f.Branches {
			for i, s := range b.Steps {
				out = append(out, defaultStep{flow: f, branch: b.Key, index: i, step: s})
			}
		}
	}
	return out
}

func (s defaultStep) String() string {
	return string(s.flow.Key) + "/" + s.branch + "/" + s.step.Key + " (" + s.step.Template + ")"
}

var buttonRe = regexp.MustCompile(`padding:14px 28px`)

// bodyText is the text part without the footer our layout adds.
func bodyText(r *Rendered) string {
	body, _, _ := strings.Cut(r.Text, "\n\n--\n")
	return body
}

// A flow step added without its templates fails here, in both languages.
func TestEveryFlowStepHasADefaultTemplate(t *testing.T) {
	require.NoError(t, defaultsError())
	steps := defaultSteps()
	require.NotEmpty(t, steps)
	for _, s := range steps {
		require.Equal(t, []string{LocaleEN, LocaleFR}, DefaultLocales(s.step.Template), "%s: a default in English and French", s)
		for _, locale := range []string{LocaleEN, LocaleFR} {
			tpl, ok := DefaultTemplate(s.step.Template, locale)
			require.True(t, ok, "%s: no %s default", s, locale)
			_, err := Compile(tpl)
			require.NoError(t, err, "%s (%s)", s, locale)
		}
	}
}

// What every default email must carry, step by step, as the flows use them.
func TestDefaultTemplatesFollowTheRules(t *testing.T) {
	for _, s := range defaultSteps() {
		for _, locale := range []string{LocaleEN, LocaleFR} {
			d := SampleData(locale)
			r := renderDefault(t, s.step.Template, locale, d)
			where := s.String() + " " + locale

			require.Less(t, len(r.HTML), MaxHTMLSize, where)
			require.Contains(t, r.HTML, `href="https://app.relance.example/u/sample-token"`, where)
			require.Contains(t, r.Text, "https://app.relance.example/u/sample-token", where)
			require.NotEmpty(t, r.Preheader, "%s: a preheader", where)
			require.Len(t, buttonRe.FindAllString(r.HTML, -1), 1, "%s: one call to action", where)
			require.NotContains(t, strings.ToLower(r.Subject), "forgot", where)
			require.NotContains(t, strings.ToLower(r.Subject), "oubli", where)

			// An offer only where the flow step says so: never in the first
			// reminder of an abandonment sequence, whatever the data holds.
			hasCode := strings.Contains(r.HTML, d.Discount.Code)
			require.Equal(t, s.step.Offer, hasCode, "%s: shows a discount code only if the step is an offer", where)
			if s.flow.Ladder > 0 && s.index == 0 {
				require.False(t, hasCode, "%s: no discount in the first reminder", where)
			}
			// A transactional email is a plain reminder of the shopper's own
			// cart or order: no product recommendations.
			if s.step.Class == flow.Transactional {
				require.NotContains(t, r.HTML, "Stoneware mug", "%s: no marketing in a transactional email", where)
			}
			// A sequence the shopper may leave from its emails says how in the
			// first one, in the body, not only in the footer.
			if s.flow.HasExit(flow.ExitLeave) && s.index == 0 {
				require.Contains(t, bodyText(r), d.NotInterestedURL, "%s: a way to leave the sequence", where)
			}
			// Written as a note from the owner, who signs it.
			require.Contains(t, bodyText(r), "Claire, Maison & Co", where)
		}
	}
}

func TestDefaultTemplatesNameWhatTheyAreAbout(t *testing.T) {
	for _, locale := range []string{LocaleEN, LocaleFR} {
		d := SampleData(locale)
		product := d.Products[0]
		// Replenishment names the product and links to it.
		for _, name := range []string{"replenishment/1", "replenishment/2", "replenishment/subscribe"} {
			r := renderDefault(t, name, locale, d)
			require.Contains(t, r.Subject, product.Title, name)
			require.Contains(t, bodyText(r), product.Title+": "+product.URL, name)
		}
		// The review request links to the products ordered and the order.
		r := renderDefault(t, "post_purchase/review", locale, d)
		for _, l := range d.Order.Lines {
			require.Contains(t, r.HTML, `href="`+l.URL+`"`)
		}
		require.Contains(t, r.HTML, `href="`+d.Order.StatusURL+`"`)
		// Post-purchase shows the order and links to its status page.
		for _, name := range []string{"post_purchase/first/thanks", "post_purchase/repeat/thanks"} {
			r := renderDefault(t, name, locale, d)
			require.Contains(t, r.Text, "#1001", name)
			require.Contains(t, r.HTML, `href="`+d.Order.StatusURL+`"`, name)
		}
		// Browse abandonment is about the product viewed.
		r = renderDefault(t, "browse/1", locale, d)
		require.Contains(t, r.Subject, product.Title)
		// Cart abandonment shows the cart and links back to it.
		for _, name := range []string{"cart/1", "cart/2", "cart/3"} {
			r := renderDefault(t, name, locale, d)
			require.Contains(t, r.HTML, "riviera.jpg", name)
			// cart/3's code link applies the code, then redirects to the cart.
			require.Regexp(t, `https://maison-co.example/(checkouts/c/abc123/recover|discount/MAISON-7K2Q9XHD\?redirect=%2Fcheckouts%2Fc%2Fabc123%2Frecover)`, r.Text, name)
		}
		// Reassurance near the call to action: shipping threshold, returns, support.
		r = renderDefault(t, "cart/1", locale, d)
		require.Contains(t, r.Text, oneLine(d.Shop.FreeShippingOver.Format(locale)))
		require.Contains(t, r.Text, map[string]string{LocaleEN: "30 days", LocaleFR: "30 jours"}[locale])
		require.Contains(t, r.Text, d.Shop.SupportURL)
	}
	// Only the first reminder of the cart sequence is sent when the shopper
	// already left another cart: its subject stays helpful.
	require.Equal(t, "Your cart at Maison & Co is saved", renderDefault(t, "cart/1", LocaleEN, SampleData(LocaleEN)).Subject)
	require.Equal(t, "Running low on Candle <Fig & Cedar>?", renderDefault(t, "replenishment/1", LocaleEN, SampleData(LocaleEN)).Subject)
}

// Each offer reads right for every kind of discount, and without one (no
// consent for a promotion, or the code could not be created).
func TestOfferTemplatesEveryDiscountKind(t *testing.T) {
	for _, s := range defaultSteps() {
		if !s.step.Offer {
			continue
		}
		for _, locale := range []string{LocaleEN, LocaleFR} {
			where := s.String() + " " + locale
			d := SampleData(locale)
			d.Discount.Kind, d.Discount.Percent = DiscountFreeShipping, 0
			r := renderDefault(t, s.step.Template, locale, d)
			require.Contains(t, strings.ToLower(r.Subject), map[string]string{LocaleEN: "free shipping", LocaleFR: "livraison offerte"}[locale], where)
			require.NotContains(t, r.Subject, "%", where)
			require.Contains(t, r.HTML, d.Discount.Code, where)

			d = SampleData(locale)
			d.Discount.Kind, d.Discount.Amount = DiscountFixedAmount, Money{Amount: "15", Currency: "EUR"}
			r = renderDefault(t, s.step.Template, locale, d)
			// Subjects are one line of plain spaces (no-break spaces too).
			require.Contains(t, r.Subject, oneLine(d.Discount.Amount.Format(locale)), where)

			d = SampleData(locale)
			d.Discount = nil
			r = renderDefault(t, s.step.Template, locale, d)
			require.NotContains(t, r.Subject, "{{", where)
			require.NotContains(t, r.HTML, "MAISON-7K2Q9XHD", where)
			require.Len(t, buttonRe.FindAllString(r.HTML, -1), 1, "%s: still one call to action", where)
		}
	}
}

// With only what every send has (a shop, a recipient, the links), each
// default still reads well: no empty links, no dangling words, one call to
// action.
func TestDefaultTemplatesWithSparseData(t *testing.T) {
	for _, name := range DefaultTemplateNames() {
		for _, locale := range []string{LocaleEN, LocaleFR} {
			d := &Data{
				Locale:           locale,
				Shop:             Shop{Name: "Atelier", URL: "https://atelier.example", Address: "1 Main St"},
				RecoveryURL:      "https://atelier.example/cart/c/1",
				UnsubscribeURL:   "https://app.relance.example/u/t",
				PreferencesURL:   "",
				NotInterestedURL: "",
			}
			r := renderDefault(t, name, locale, d)
			where := name + " " + locale
			require.NotEmpty(t, r.Subject, where)
			require.NotContains(t, r.HTML, `href=""`, where)
			require.NotContains(t, r.HTML, `src=""`, where)
			require.NotRegexp(t, `\(\s*\)|,\s*[,.]|\s[,.](\s|$)`, bodyText(r), where)
			require.Len(t, buttonRe.FindAllString(r.HTML, -1), 1, "%s: one call to action", where)
			require.Contains(t, r.HTML, `href="https://app.relance.example/u/t"`, where)
		}
	}
}

// Shopper data never reaches the HTML unescaped, in any default.
func TestDefaultTemplatesEscapeShopperData(t *testing.T) {
	const evil = `<script>alert(1)</script>`
	hostile := func(locale string) *Data {
		d := SampleData(locale)
		d.Customer.FirstName = evil
		d.Customer.Email = evil + "@example.org"
		for i := range d.Lines {
			d.Lines[i].Title, d.Lines[i].Variant = evil, evil
		}
		for i := range d.Order.Lines {
			d.Order.Lines[i].Title, d.Order.Lines[i].Variant = evil, evil
		}
		for i := range d.Products {
			d.Products[i].Title = evil
		}
		d.Order.Name = evil
		d.Vars = map[string]any{"segment": evil}
		return d
	}
	for _, name := range DefaultTemplateNames() {
		for _, locale := range []string{LocaleEN, LocaleFR} {
			where := name + " " + locale
			r := renderDefault(t, name, locale, hostile(locale))
			require.NotContains(t, r.HTML, "<script", where)
			require.NotContains(t, r.HTML, "alert(1)</", where)
			// Not a name: the greeting falls back to a neutral one.
			require.Contains(t, r.HTML, ">"+texts(locale).greeting+"</p>", where)
			if strings.Contains(r.HTML, "alert(1)") {
				require.Contains(t, r.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;", where)
			}

			// A real name with characters that matter in HTML is shown,
			// escaped.
			d := SampleData(locale)
			d.Customer.FirstName = `Zoë&"Lou'`
			r = renderDefault(t, name, locale, d)
			require.Contains(t, r.HTML, texts(locale).greetingName(`Zoë&amp;&#34;Lou&#39;`), where)
			require.NotContains(t, r.HTML, `Zoë&"`, where)
		}
	}
}

// Quiz segments are named by the merchant: a segment without templates of
// its own uses the default segment's.
func TestQuizSegmentsUseTheDefaultSegment(t *testing.T) {
	for _, seg := range []string{"a", "b", "c", "dry-skin"} {
		for _, step := range []string{"results", "routine", "offer"} {
			got, ok := DefaultTemplate("post_quiz/"+seg+"/"+step, LocaleFR)
			require.True(t, ok, seg+"/"+step)
			want, _ := DefaultTemplate("post_quiz/default/"+step, LocaleFR)
			require.Equal(t, want, got)
			require.Equal(t, []string{LocaleEN, LocaleFR}, DefaultLocales("post_quiz/"+seg+"/"+step))
		}
	}
	for _, name := range []string{"post_quiz/a/nope", "post_quiz/a/results/x", "post_quiz//results", "nope/1", "checkout/9"} {
		_, ok := DefaultTemplate(name, LocaleEN)
		require.False(t, ok, name)
		require.Empty(t, DefaultLocales(name), name)
	}
}

// No placeholder or unfinished text ships in a default.
func TestDefaultTemplatesHaveNoPlaceholders(t *testing.T) {
	bad := regexp.MustCompile(`(?i)lorem|ipsum|todo|tbd|fixme|xxx|\[(name|shop|product)\]|your (shop|store) name`)
	n := 0
	err := fs.WalkDir(defaultFS, "templates", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		src, err := defaultFS.ReadFile(p)
		require.NoError(t, err)
		require.NotRegexp(t, bad, string(src), p)
		require.True(t, strings.HasSuffix(p, ".liquid"), p)
		n++
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2*len(DefaultTemplateNames()), n)
}
