package mail

import "fmt"

// strs are the few words our own code writes around a template (greeting,
// cart block, footer), per language.
type strs struct {
	greeting      string
	greetingName  func(string) string
	freeShipping  string
	quantity      string
	subtotal      string
	moreItems     func(int) string
	reason        func(shop string) string
	unsubscribe   string
	preferences   string
	notInterested string
}

var en = strs{
	greeting:     "Hi there,",
	greetingName: func(n string) string { return "Hi " + n + "," },
	freeShipping: "free shipping",
	quantity:     "Qty",
	subtotal:     "Subtotal",
	moreItems: func(n int) string {
		if n == 1 {
			return "and 1 more item"
		}
		return fmt.Sprintf("and %d more items", n)
	},
	reason: func(shop string) string {
		return "You are receiving this email because you shared your email address with " + shop + "."
	},
	unsubscribe:   "Unsubscribe",
	preferences:   "Email preferences",
	notInterested: "Not interested in this cart",
}

var fr = strs{
	greeting:     "Bonjour,",
	greetingName: func(n string) string { return "Bonjour " + n + "," },
	freeShipping: "la livraison offerte",
	quantity:     "Qté",
	subtotal:     "Sous-total",
	moreItems: func(n int) string {
		if n == 1 {
			return "et 1 autre article"
		}
		return fmt.Sprintf("et %d autres articles", n)
	},
	reason: func(shop string) string {
		return "Vous recevez cet e-mail car vous avez communiqué votre adresse à " + shop + "."
	},
	unsubscribe:   "Se désabonner",
	preferences:   "Préférences e-mail",
	notInterested: "Ce panier ne m'intéresse plus",
}

func texts(locale string) strs {
	if language(locale) == LocaleFR {
		return fr
	}
	return en
}
