package mail

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func goldenName(name, locale string) string {
	return filepath.Join("testdata", strings.ReplaceAll(name, "/", "_")+"."+locale+".golden")
}

func renderDefault(t testing.TB, name, locale string, d *Data) *Rendered {
	t.Helper()
	if locale == "" {
		locale = d.locale()
	}
	tpl, ok := DefaultTemplate(name, locale)
	require.True(t, ok, "no default for %s", name)
	c, err := Compile(tpl)
	require.NoError(t, err)
	r, err := c.Render(d)
	require.NoError(t, err)
	return r
}

func TestDefaultTemplatesGolden(t *testing.T) {
	require.NoError(t, defaultsError())
	names := DefaultTemplateNames()
	for _, want := range []string{"checkout/1", "checkout/2", "checkout/3"} {
		require.Contains(t, names, want)
	}
	imgTag := regexp.MustCompile(`<img [^>]*>`)
	for _, name := range names {
		for _, locale := range []string{LocaleEN, LocaleFR} {
			t.Run(name+"/"+locale, func(t *testing.T) {
				require.Contains(t, DefaultLocales(name), locale, "every default exists in French and English")
				r := renderDefault(t, name, locale, SampleData(locale))
				got := fmt.Sprintf("Subject: %s\nPreheader: %s\n\n===== text =====\n%s\n===== html =====\n%s", r.Subject, r.Preheader, r.Text, r.HTML)
				file := goldenName(name, locale)
				if *update {
					require.NoError(t, os.MkdirAll("testdata", 0o755))
					require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
				}
				want, err := os.ReadFile(file)
				require.NoError(t, err, "run go test -update to create it")
				require.Equal(t, string(want), got)

				// What every email must carry, whatever the template says.
				require.Less(t, len(r.HTML), MaxHTMLSize)
				require.Contains(t, r.HTML, `href="https://app.relance.example/u/sample-token"`)
				require.Contains(t, r.Text, "https://app.relance.example/u/sample-token")
				require.Contains(t, r.HTML, "12 rue des Lilas")
				require.Contains(t, r.HTML, `<html lang="`+locale+`"`)
				require.Contains(t, r.HTML, `name="color-scheme"`)
				for _, img := range imgTag.FindAllString(r.HTML, -1) {
					require.Regexp(t, `width="\d+"`, img)
					require.Regexp(t, `alt="[^"]+"`, img)
				}
				// Shopper data is escaped in HTML, verbatim in the subject.
				require.NotContains(t, r.HTML, "<Fig")
				require.NotContains(t, r.Subject, "&amp;")
			})
		}
	}
}

func TestCheckoutDefaultsFollowTheRules(t *testing.T) {
	for _, locale := range []string{LocaleEN, LocaleFR} {
		for _, name := range []string{"checkout/1", "checkout/2", "checkout/3"} {
			r := renderDefault(t, name, locale, SampleData(locale))
			text := strings.ToLower(r.Text)
			// Troubleshooting: authentication, card refused, just reply.
			require.Contains(t, text, map[string]string{LocaleEN: "banking app", LocaleFR: "application de votre banque"}[locale], name)
			require.Contains(t, text, map[string]string{LocaleEN: "postcode", LocaleFR: "code postal"}[locale], name)
			require.Contains(t, text, map[string]string{LocaleEN: "reply", LocaleFR: "répondez"}[locale], name)
			// One call to action: one button.
			require.Equal(t, 1, strings.Count(r.HTML, `padding:14px 28px`), name)
			hasCode := strings.Contains(r.HTML, "MAISON-7K2Q9XHD")
			require.Equal(t, name == "checkout/3", hasCode, "%s: the offer comes only in the last reminder", name)
		}
	}
	// With no discount (no consent for an offer, or code creation failed)
	// the last reminder still reads well and links to the checkout.
	d := SampleData(LocaleEN)
	d.Discount = nil
	r := renderDefault(t, "checkout/3", LocaleEN, d)
	require.Equal(t, "Your order at Maison & Co is still saved", r.Subject)
	require.Contains(t, r.HTML, `href="https://maison-co.example/checkouts/c/abc123/recover?key=k&amp;locale=en"`)

	// The code link applies the code and redirects to the checkout.
	r = renderDefault(t, "checkout/3", LocaleEN, SampleData(LocaleEN))
	require.Contains(t, r.HTML, `href="https://maison-co.example/discount/MAISON-7K2Q9XHD?redirect=%2Fcheckouts%2Fc%2Fabc123%2Frecover%3Fkey%3Dk%26locale%3Den"`)
	require.Equal(t, "10% off your order, my treat", r.Subject)
	require.Equal(t, "Your personal code MAISON-7K2Q9XHD is valid until Wednesday, September 16 at 11:30 AM.", r.Preheader)
}

func TestRenderEscapesShopperData(t *testing.T) {
	c, err := Compile(Template{
		Subject: "For {{ customer.first_name }} at {{ shop.name }}",
		Body: `<p>{{ checkout.line_items[0].title }}|{{ vars.note }}|{{ vars.trusted }}|{{ shop.name | escape }}</p>` +
			`<a href="{{ recovery_url }}">go</a><img src="{{ checkout.line_items[0].image_url }}" width="10" alt="x">`,
	})
	require.NoError(t, err)
	d := SampleData(LocaleEN)
	d.Customer.FirstName = "Zoë"
	d.Shop.Name = `Tom & "Jerry"`
	d.Lines = []Line{{Title: `<img src=x onerror=alert(1)>`, Quantity: 1, ImageURL: "javascript:alert(1)"}}
	d.RecoveryURL = `https://shop.example/r?a=1&b="><script>`
	d.Vars = map[string]any{"note": "<b>bold</b>", "trusted": HTML("<em>ok</em>")}
	r, err := c.Render(d)
	require.NoError(t, err)
	require.Equal(t, `For Zoë at Tom & "Jerry"`, r.Subject)
	require.Contains(t, r.HTML, `<p>&lt;img src=x onerror=alert(1)&gt;|&lt;b&gt;bold&lt;/b&gt;|<em>ok</em>|Tom &amp; &#34;Jerry&#34;</p>`)
	require.Contains(t, r.HTML, `<a href="https://shop.example/r?a=1&amp;b=&#34;&gt;&lt;script&gt;">go</a>`)
	require.Contains(t, r.HTML, `<img src="" width="10" alt="x">`, "a javascript: URL never becomes a link or image")
	require.NotContains(t, r.HTML, "<script>")
	require.NotContains(t, r.HTML, "<img src=x")
}

func TestCompileReportsPartAndLine(t *testing.T) {
	for _, tc := range []struct {
		desc     string
		tpl      Template
		wantPart string
		wantLine int
		wantMsg  string
	}{
		{"unterminated if", Template{Subject: "Hi", Body: "<p>a</p>\n<p>b</p>\n{% if customer.has_first_name %}\n<p>c</p>"}, "body", 3, `unterminated "if" block`},
		{"bad output", Template{Subject: "Hi", Body: "<p>a</p>\n{{ shop.name | }}"}, "body", 2, "syntax error"},
		{"unknown filter", Template{Subject: "Hi {{ shop.name | shout }}", Body: "<p>a</p>"}, "subject", 1, `undefined filter "shout"`},
		{"empty subject", Template{Subject: "  ", Body: "<p>a</p>"}, "subject", 1, "empty"},
		{"subject renders empty", Template{Subject: "{{ vars.nothing }}", Body: "<p>a</p>"}, "subject", 1, "renders empty"},
		{"preheader", Template{Subject: "Hi", Preheader: "x\n{% for %}", Body: ""}, "preheader", 2, ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Compile(tc.tpl)
			var te *TemplateError
			require.True(t, errors.As(err, &te), "got %v", err)
			require.Equal(t, tc.wantPart, te.Part)
			require.Equal(t, tc.wantLine, te.Line)
			require.Contains(t, te.Message, tc.wantMsg)
		})
	}
}

func TestRenderFallbacksAndLimits(t *testing.T) {
	d := SampleData(LocaleFR)
	d.Customer.FirstName = "  MARIE-CLAIRE "
	r := renderDefault(t, "checkout/1", "", d)
	require.Contains(t, r.Text, "Bonjour Marie-Claire,")

	for _, bad := range []string{"", "marie@example.org", "06123456"} {
		d.Customer.FirstName = bad
		r = renderDefault(t, "checkout/2", "", d)
		require.True(t, strings.HasPrefix(r.Text, "Bonjour,\n"), "%q: %q", bad, r.Text[:20])
		require.Equal(t, "Une question sur votre commande ?", r.Subject)
	}

	// Locale: the customer's, then the shop's, then English.
	d = SampleData(LocaleEN)
	d.Locale = ""
	d.Customer.Locale, d.Shop.Locale = "fr-CA", "en"
	require.Equal(t, LocaleFR, d.locale())
	d.Customer.Locale, d.Shop.Locale = "de", "fr"
	require.Equal(t, LocaleFR, d.locale())
	d.Customer.Locale, d.Shop.Locale = "de", "es"
	require.Equal(t, LocaleEN, d.locale())

	// A huge cart shows the first lines and a count, and stays under 100 KB.
	d = SampleData(LocaleEN)
	d.Lines = nil
	for i := range 300 {
		d.Lines = append(d.Lines, Line{Title: fmt.Sprintf("Item %d %s", i, strings.Repeat("x", 400)), Quantity: 1,
			Price: Money{Amount: "1", Currency: "EUR"}, ImageURL: "https://cdn.example/i.jpg"})
	}
	r = renderDefault(t, "checkout/1", LocaleEN, d)
	require.Contains(t, r.Text, "and 292 more items")
	require.Less(t, len(r.HTML), MaxHTMLSize)

	// A merchant template that grows past the limit is refused at send time.
	c, err := Compile(Template{Subject: "x", Body: "{% for l in checkout.line_items %}{{ l.title }}{% endfor %}"})
	require.NoError(t, err)
	_, err = c.Render(d)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestMoneyFormat(t *testing.T) {
	for _, tc := range []struct {
		m      Money
		locale string
		want   string
	}{
		{Money{"1234.5", "EUR"}, LocaleEN, "€1,234.50"},
		{Money{"1234.5", "EUR"}, LocaleFR, "1\u202f234,50\u00a0€"},
		{Money{"20.00", "USD"}, LocaleEN, "$20"},
		{Money{"20.00", "EUR"}, LocaleFR, "20\u00a0€"},
		{Money{"1200.00", "JPY"}, LocaleEN, "¥1,200"},
		{Money{"99.999", "GBP"}, LocaleEN, "£100"},
		{Money{"10.5", "CHF"}, LocaleEN, "CHF\u00a010.50"},
		{Money{"10.5", "PLN"}, LocaleEN, "PLN\u00a010.50"},
		{Money{"oops", "EUR"}, LocaleEN, "oops EUR"},
	} {
		require.Equal(t, tc.want, tc.m.Format(tc.locale), "%v %s", tc.m, tc.locale)
	}
}

func TestHTMLToText(t *testing.T) {
	got := htmlToText(`<style>p{}</style><div style="display:none">hidden</div><p>Hello <b>you</b>,</p>` +
		`<table><tr><td>Shirt</td><td>€59</td></tr><tr><td>Mug &amp; co</td><td>€8</td></tr></table>` +
		`<a href="https://x.example/go">Go now</a><ul><li>one</li><li>two</li></ul><p>a<br>b</p>`)
	require.Equal(t, "Hello you,\n\nShirt €59\nMug & co €8\n\nGo now: https://x.example/go\n\n- one\n- two\n\na\nb", got)
}

func TestDiscountDeadlineInShopTimeZone(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	at := time.Date(2026, 9, 16, 22, 0, 0, 0, time.UTC)
	require.Equal(t, "Wednesday, September 16 at 6:00 PM", formatDateTime(at, ny, LocaleEN))
	require.Equal(t, "mercredi 16 septembre à 18h00", formatDateTime(at, ny, LocaleFR))
}

// BenchmarkRender5Items measures a checkout reminder with a 5-line cart, the
// figure reported in docs/benchmarks.md.
func BenchmarkRender5Items(b *testing.B) {
	tpl, _ := DefaultTemplate("checkout/3", LocaleEN)
	c, err := Compile(tpl)
	require.NoError(b, err)
	d := SampleData(LocaleEN)
	for len(d.Lines) < 5 {
		d.Lines = append(d.Lines, d.Lines[0])
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Render(d); err != nil {
			b.Fatal(err)
		}
	}
}

// textBoth runs both readers of htmlToText; fast is false when scanSimple
// left the input to the tokenizer.
func textBoth(src string) (fast, slow string, ok bool) {
	var f, s textWriter
	ok = f.scanSimple(src)
	s.tokenize(src)
	return tidyText(f.b), tidyText(s.b), ok
}

// The hand-written reader takes every default template's body and reads it
// as x/net/html does.
func TestHTMLToTextFastPathOnDefaults(t *testing.T) {
	for _, name := range DefaultTemplateNames() {
		for _, locale := range []string{LocaleEN, LocaleFR} {
			tpl, ok := DefaultTemplate(name, locale)
			require.True(t, ok)
			c, err := Compile(tpl)
			require.NoError(t, err)
			d := SampleData(locale)
			cart := d.cartLines(locale)
			hb, _ := d.bindings(locale, cart)
			body, err := c.renderBody(hb, cart, locale, d.Subtotal)
			require.NoError(t, err)
			fast, slow, ok := textBoth(body)
			require.True(t, ok, "%s/%s: the fast reader gave up", name, locale)
			require.Equal(t, slow, fast, "%s/%s", name, locale)
		}
	}
}

var htmlToTextSeeds = []string{
	`<p>Hello <b>you</b>,</p><table><tr><td>Shirt</td><td>€59</td></tr></table>`,
	`<a href="https://x.example/?a=1&amp;b=2">Go &amp; see</a> <a href=https://y.example>y</a><a href='http://z'></a>`,
	`<A HREF="https://x.example">UPPER</A><BR/><Br /><p/>x<div style="display: none">hid<span>den</span></div>after`,
	`<div style="DISPLAY:none">not hidden (case)</div><div style='display:none' style="color:red">last style wins</div>`,
	`<!-- a comment --><!--[if mso]><table><![endif]-->text<!---->x<!-- -- -->y`,
	"<p>tabs\tand\nnewlines \u00a0nbsp\u2003em space</p>&nbsp;&copy;&amp &notin; &#39;&#x41;&#0;",
	`<ul><li>one</li><li>two <a href="https://a">https://a</a></li></ul><h1>T</h1><h4>F</h4><ol><li>x</li></ol>`,
	`<img src="x" alt="y"><input disabled><td>a</td><th>b</th><a href="mailto:x@y">mail</a>`,
	`<a href="https://o">outer <a href="https://i">inner </a> </a>tail`,
	// Left to the tokenizer.
	`<style>p{}</style><title>t</title><script>if (a<b) {}</script><textarea><b></textarea>`,
	`a < b <3 <> </> <?xml?> <!DOCTYPE html> <!-->x<!--->y <a href="x&ampy">z</a> <p class=a/b>`,
	"<p>\r\n</p>\x00<o:p>x</o:p><a href=\"https://x\" / >q</a><a =x>r</a><b a=\"unterminated>",
}

// Wherever the fast reader accepts its input, it reads it as the tokenizer.
func FuzzHTMLToText(f *testing.F) {
	for _, s := range htmlToTextSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		fast, slow, ok := textBoth(src)
		if ok && fast != slow {
			t.Fatalf("%q:\nfast %q\nslow %q", src, fast, slow)
		}
		if got := htmlToText(src); got != slow {
			t.Fatalf("%q: htmlToText %q, tokenizer %q", src, got, slow)
		}
	})
}

// The seeds exercise both readers: the fast one takes the first ones and
// leaves the last ones to the tokenizer.
func TestHTMLToTextSeedsCoverBothReaders(t *testing.T) {
	for i, s := range htmlToTextSeeds {
		_, _, ok := textBoth(s)
		require.Equal(t, i < 9, ok, "seed %d: %q", i, s)
	}
}

// Shopper data that looks like markup or Liquid stays data on every path:
// escaped in the HTML (body, cart block, layout), as typed in subject,
// preheader and text, never evaluated; trusted HTML in a subject becomes
// its text.
func TestRenderShopperDataIsNeverMarkupOrLiquid(t *testing.T) {
	c, err := Compile(Template{
		Subject:   "{{ shop.name }} for {{ vars.who }}: {{ products[0].description }}",
		Preheader: "{{ checkout.line_items[0].title }} {{ vars.list[0] }} {{ vars.nested.deep }}",
		Body: `<p>{{ shop.name }}|{{ vars.who }}|{{ vars.list[0] }}|{{ vars.list[1] }}|{{ vars.nested.deep }}|{{ vars.nested.html }}</p>` +
			`{{ cart_table }}<p>{{ products[0].description }}</p>`,
	})
	require.NoError(t, err)
	d := SampleData(LocaleEN)
	evil := `<script>alert(1)</script>{{ shop.owner_name }}{% if true %}x{% endif %}`
	d.Shop.Name = evil
	d.Lines = []Line{{Title: evil, Quantity: 1, Price: Money{Amount: "5", Currency: "EUR"}}}
	nested := map[string]any{"deep": evil, "html": HTML("<em>trusted</em>")}
	d.Vars = map[string]any{"who": evil, "list": []any{evil, HTML("<i>t</i>")}, "nested": nested}
	r, err := c.Render(d)
	require.NoError(t, err)

	require.NotContains(t, r.HTML, "<script>")
	require.Contains(t, r.HTML, "&lt;script&gt;alert(1)&lt;/script&gt;{{ shop.owner_name }}{% if true %}x{% endif %}")
	require.Contains(t, r.HTML, "|<i>t</i>|")
	require.Contains(t, r.HTML, "|<em>trusted</em></p>")
	require.NotContains(t, r.HTML, "Claire", "the owner's name only comes from a template, never from data")
	require.Equal(t, evil+" for "+evil+": Hand-poured soy wax, about 40 hours of burn time.", r.Subject)
	require.Equal(t, evil+" "+evil+" "+evil, r.Preheader)
	require.Contains(t, r.Text, evil+"|"+evil+"|"+evil+"|t|"+evil+"|trusted")
	require.NotContains(t, r.Text, "<em>")
	// The caller's values are shown, not changed.
	require.Equal(t, HTML("<em>trusted</em>"), nested["html"])
	require.Equal(t, HTML("<i>t</i>"), d.Vars["list"].([]any)[1])
}

// safeURL's shortcut gives what net/url gives.
func FuzzSafeURL(f *testing.F) {
	for _, s := range []string{
		"https://maison-co.example/checkouts/c/abc123/recover?key=k&locale=en", "http://x.example", "https://x.example/",
		"https://x.example?", "https://x.example?a=%2F&b=c+d", "https://X.example/", "https://x.example:443/",
		"https://x.example/a%20b", "https://x.example/a b", "https://x.example/#f", "https://user@x.example/",
		"javascript:alert(1)", "https://", "https:///path", "https://x.example//a/../b", "https://x.example_y/",
		" https://x.example/p ", "https://x.example/?q=\x7f", "HTTPS://x.example/", "https://x.example/é",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		raw = strings.TrimSpace(raw)
		if plainURL(raw) {
			if got := parsedURL(raw); got != raw {
				t.Fatalf("%q: net/url gives %q", raw, got)
			}
		}
	})
}
