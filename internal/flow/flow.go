// Package flow defines the sequences as data: triggers, branches, steps with
// their delays and classification, goal, exit and re-entry rules, and the
// nine defaults every shop starts with. Definitions are versioned per shop;
// the journey engine pins each enrollment to the version it started on.
package flow

import (
	"strings"
)

// Key names one of a shop's flows.
type Key string

// The nine default flows.
const (
	Welcome       Key = "welcome"
	Nurturing     Key = "nurturing"
	PostQuiz      Key = "post_quiz"
	Checkout      Key = "checkout_abandonment"
	Cart          Key = "cart_abandonment"
	Browse        Key = "browse_abandonment"
	PostPurchase  Key = "post_purchase"
	Replenishment Key = "replenishment"
	Reengagement  Key = "reengagement"
)

// Keys lists the flows in display order.
var Keys = []Key{Welcome, Nurturing, PostQuiz, Checkout, Cart, Browse, PostPurchase, Replenishment, Reengagement}

// Trigger is a shopper behaviour that starts flows.
type Trigger string

// Triggers.
const (
	Subscribed      Trigger = "subscribed"
	QuizCompleted   Trigger = "quiz_completed"
	WelcomeEnded    Trigger = "welcome_ended" // welcome finished without a purchase
	ProductViewed   Trigger = "product_viewed"
	CartUpdated     Trigger = "cart_updated"
	CheckoutStarted Trigger = "checkout_started"
	OrderPlaced     Trigger = "order_placed"
	Disengaged      Trigger = "disengaged"
	Dormant         Trigger = "dormant"
)

var triggers = map[Trigger]bool{Subscribed: true, QuizCompleted: true, WelcomeEnded: true, ProductViewed: true, CartUpdated: true,
	CheckoutStarted: true, OrderPlaced: true, Disengaged: true, Dormant: true}

// Class decides which consent a step needs.
type Class string

// Step classes. A transactional step is a plain reminder of the shopper's own
// cart or order; anything carrying an offer or marketing is promotional and
// needs marketing consent.
const (
	Transactional Class = "transactional"
	Promotional   Class = "promotional"
)

// Goal is what ends a flow early when achieved.
type Goal string

// Goals. Any order exits every enrollment whose flow has GoalPurchase.
const (
	GoalPurchase Goal = "purchase"
	GoalNone     Goal = "none"
)

// Exit is an event, besides the goal, that ends an enrollment.
type Exit string

// Exits.
const (
	// ExitLeave: the shopper may leave the flow from its emails ("stop
	// reminding me about this cart").
	ExitLeave Exit = "leave"
	// ExitEmptied: the cart or checkout the flow is about was emptied or deleted.
	ExitEmptied Exit = "emptied"
)

// Reentry says when a contact who already went through a flow may enter it
// again: never (Once), or once CooldownDays have passed since the previous
// enrollment started. Zero value: any time no enrollment is active.
type Reentry struct {
	Once         bool `json:"once,omitempty"`
	CooldownDays int  `json:"cooldown_days,omitempty"`
}

// Step is one email of a branch.
type Step struct {
	Key      string `json:"key"`
	Delay    Delay  `json:"delay"`
	Class    Class  `json:"class"`
	Template string `json:"template"`
	// Offer: the email carries a discount (created when the step is sent).
	Offer bool `json:"offer,omitempty"`
	// AfterFulfilment: the delay counts from the order's fulfilment, and the
	// step waits for it (post-purchase review request).
	AfterFulfilment bool `json:"after_fulfilment,omitempty"`
}

// Branch is one path through a flow, chosen when the contact enrolls.
type Branch struct {
	Key   string    `json:"key"`
	When  Condition `json:"when"`
	Steps []Step    `json:"steps"`
	// Sunset: suppress the contact from marketing once the branch completes
	// without a purchase (re-engagement, dormant).
	Sunset bool `json:"sunset,omitempty"`
}

// Flow is one version of a sequence definition.
type Flow struct {
	Key      Key       `json:"key"`
	Version  int       `json:"version"`
	Name     string    `json:"name"`
	Triggers []Trigger `json:"triggers"`
	Goal     Goal      `json:"goal"`
	// Ladder ranks the abandonment flows (browse 1 < cart 2 < checkout 3): a
	// contact is in at most one, and a higher rung replaces a lower one.
	Ladder  int     `json:"ladder,omitempty"`
	Exits   []Exit  `json:"exits,omitempty"`
	Reentry Reentry `json:"reentry"`
	// Restart: a new trigger while an enrollment is active replaces it (a new
	// order restarts post-purchase). Abandonment flows instead keep their
	// enrollment and follow the newest cart or checkout.
	Restart bool `json:"restart,omitempty"`
	// Then starts another flow when this one completes without a purchase.
	Then     Key      `json:"then,omitempty"`
	Branches []Branch `json:"branches"`
}

// HasExit reports whether e ends the flow.
func (f *Flow) HasExit(e Exit) bool {
	for _, x := range f.Exits {
		if x == e {
			return true
		}
	}
	return false
}

// StartsOn reports whether t starts the flow.
func (f *Flow) StartsOn(t Trigger) bool {
	for _, x := range f.Triggers {
		if x == t {
			return true
		}
	}
	return false
}

// Branch returns the first branch whose condition holds, or nil.
func (f *Flow) Branch(facts Facts) *Branch {
	for i := range f.Branches {
		if f.Branches[i].When.Holds(facts) {
			return &f.Branches[i]
		}
	}
	return nil
}

// BranchByKey returns a branch by key, or nil.
func (f *Flow) BranchByKey(key string) *Branch {
	for i := range f.Branches {
		if f.Branches[i].Key == key {
			return &f.Branches[i]
		}
	}
	return nil
}

// Facts are what branch conditions are evaluated against at enrollment.
type Facts struct {
	Trigger     Trigger
	OrdersCount int    // orders placed so far, the triggering one included
	Segment     string // quiz segment
	// RepeatProduct: the ordered product was bought several times (3+).
	RepeatProduct bool
}

// Condition chooses a branch. Forms: "always", "has_ordered", "no_orders",
// "first_order", "repeat_order", "repeat_product", "segment:<name>",
// "trigger:<trigger>".
type Condition string

// Holds evaluates the condition; an unknown condition never holds.
func (c Condition) Holds(f Facts) bool {
	s := string(c)
	switch {
	case s == "always":
		return true
	case s == "has_ordered":
		return f.OrdersCount > 0
	case s == "no_orders":
		return f.OrdersCount == 0
	case s == "first_order":
		return f.OrdersCount <= 1
	case s == "repeat_order":
		return f.OrdersCount > 1
	case s == "repeat_product":
		return f.RepeatProduct
	case strings.HasPrefix(s, "segment:"):
		return f.Segment != "" && strings.EqualFold(strings.TrimPrefix(s, "segment:"), f.Segment)
	case strings.HasPrefix(s, "trigger:"):
		return Trigger(strings.TrimPrefix(s, "trigger:")) == f.Trigger
	}
	return false
}

func (c Condition) valid() bool {
	s := string(c)
	switch s {
	case "always", "has_ordered", "no_orders", "first_order", "repeat_order", "repeat_product":
		return true
	}
	if v, ok := strings.CutPrefix(s, "segment:"); ok {
		return v != ""
	}
	if v, ok := strings.CutPrefix(s, "trigger:"); ok {
		return triggers[Trigger(v)]
	}
	return false
}
