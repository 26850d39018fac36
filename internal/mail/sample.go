package mail

import "time"

// SampleData is a plausible shopper and cart for previews and for checking
// templates when they are saved. Values include characters that must be
// escaped, so a template that breaks on them breaks at save time.
func SampleData(locale string) *Data {
	loc := PickLocale(locale, "")
	now := time.Date(2026, 9, 14, 9, 30, 0, 0, time.UTC)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		paris = time.UTC
	}
	owner, address := "Claire", "12 rue des Lilas, 75011 Paris, France"
	first := "Marie"
	if loc == LocaleEN {
		first = "Emma"
	}
	shirt := Line{Title: "Linen shirt \"Riviera\"", Variant: "M / Sand", Quantity: 1, Price: Money{Amount: "59.00", Currency: "EUR"},
		ImageURL: "https://cdn.maison-co.example/p/riviera.jpg", URL: "https://maison-co.example/products/riviera"}
	candle := Line{Title: "Candle <Fig & Cedar>", Variant: "Default Title", Quantity: 2, Price: Money{Amount: "18.50", Currency: "EUR"},
		ImageURL: "https://cdn.maison-co.example/p/candle.jpg", URL: "https://maison-co.example/products/candle"}
	return &Data{
		Locale: loc,
		Now:    now,
		Shop: Shop{
			Name: "Maison & Co", URL: "https://maison-co.example", Locale: loc, Location: paris,
			OwnerName: owner, ReplyTo: "hello@maison-co.example", Address: address,
			LogoURL: "https://cdn.maison-co.example/logo.png", BrandColor: "#1d4ed8",
			ReturnsDays: 30, FreeShippingOver: Money{Amount: "60.00", Currency: "EUR"},
			SupportURL: "https://maison-co.example/pages/contact",
		},
		Customer:    Customer{FirstName: first, Email: "customer@example.org", Locale: loc},
		Lines:       []Line{shirt, candle},
		Subtotal:    Money{Amount: "96.00", Currency: "EUR"},
		Total:       Money{Amount: "96.00", Currency: "EUR"},
		RecoveryURL: "https://maison-co.example/checkouts/c/abc123/recover?key=k&locale=" + loc,
		Order: &Order{Name: "#1001", StatusURL: "https://maison-co.example/orders/status/xyz",
			Total: Money{Amount: "96.00", Currency: "EUR"}, Lines: []Line{candle, shirt}, CreatedAt: now.Add(-72 * time.Hour)},
		Discount: &Discount{Code: "MAISON-7K2Q9XHD", Kind: DiscountPercentage, Percent: 10,
			Minimum: Money{Amount: "50", Currency: "EUR"}, EndsAt: now.Add(48 * time.Hour)},
		// The first product is the one a step is about (viewed, to
		// replenish); the others are recommendations.
		Products: []Product{
			{Title: candle.Title, URL: candle.URL, ImageURL: candle.ImageURL, Price: candle.Price,
				Description: "<p>Hand-poured soy wax, about 40 hours of burn time.</p>"},
			{Title: shirt.Title, URL: shirt.URL, ImageURL: shirt.ImageURL, Price: shirt.Price,
				Description: "<p>Washed linen, made in Portugal.</p>"},
			{Title: "Stoneware mug", URL: "https://maison-co.example/products/mug",
				ImageURL: "https://cdn.maison-co.example/p/mug.jpg", Price: Money{Amount: "24.00", Currency: "EUR"}},
		},
		UnsubscribeURL:   "https://app.relance.example/u/sample-token",
		PreferencesURL:   "https://app.relance.example/u/sample-token?manage=1",
		NotInterestedURL: "https://app.relance.example/u/sample-token?cart=1",
		Vars:             map[string]any{"segment": "a"},
	}
}
