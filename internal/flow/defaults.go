package flow

import "time"

var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

// Defaults returns the nine default flows, version 1, following established
// practice: abandonment reminders at about 1 h, 24 h and 72 h with the offer
// only on the last; welcome right away; spaced nurturing over weeks;
// post-purchase thanks and a review request some days after fulfilment.
// Every call returns fresh values the caller may change.
func Defaults() []Flow {
	promo := func(key, tmpl string, d Delay) Step {
		return Step{Key: key, Delay: d, Class: Promotional, Template: tmpl}
	}
	offer := func(key, tmpl string, d Delay) Step {
		return Step{Key: key, Delay: d, Class: Promotional, Template: tmpl, Offer: true}
	}
	reminder := func(key, tmpl string, d Delay) Step {
		return Step{Key: key, Delay: d, Class: Transactional, Template: tmpl}
	}
	review := Step{Key: "review", Delay: DaysAt(5, "10:00"), Class: Promotional, Template: "post_purchase/review", AfterFulfilment: true}
	quizBranch := func(segment string) Branch {
		return Branch{Key: segment, When: Condition("segment:" + segment), Steps: []Step{
			promo("results", "post_quiz/"+segment+"/results", Hours(0)),
			promo("routine", "post_quiz/"+segment+"/routine", DaysAt(2, "10:00")),
			offer("offer", "post_quiz/"+segment+"/offer", DaysAt(3, "10:00")),
		}}
	}
	return []Flow{{
		Key: Welcome, Version: 1, Name: "Welcome", Triggers: []Trigger{Subscribed}, Goal: GoalPurchase,
		Reentry: Reentry{Once: true}, Then: Nurturing,
		Branches: []Branch{
			{Key: "customer", When: "has_ordered", Steps: []Step{
				promo("welcome", "welcome/customer/1", Hours(0)),
				promo("favourites", "welcome/customer/2", DaysAt(3, "10:00")),
			}},
			{Key: "new", When: "always", Steps: []Step{
				offer("welcome", "welcome/new/1", Hours(0)),
				promo("story", "welcome/new/2", DaysAt(2, "10:00")),
				promo("bestsellers", "welcome/new/3", DaysAt(3, "10:00")),
			}},
		},
	}, {
		Key: Nurturing, Version: 1, Name: "Nurturing", Triggers: []Trigger{WelcomeEnded}, Goal: GoalPurchase,
		Reentry: Reentry{Once: true},
		Branches: []Branch{{Key: "main", When: "always", Steps: []Step{
			promo("guide", "nurturing/1", DaysAt(7, "10:00", time.Tuesday, time.Thursday)),
			promo("reviews", "nurturing/2", DaysAt(10, "10:00", time.Tuesday, time.Thursday)),
			offer("offer", "nurturing/3", DaysAt(14, "10:00", time.Tuesday, time.Thursday)),
		}}},
	}, {
		Key: PostQuiz, Version: 1, Name: "Post-quiz welcome", Triggers: []Trigger{QuizCompleted}, Goal: GoalPurchase,
		Reentry: Reentry{CooldownDays: 30},
		// One branch per quiz segment; the quiz block names segments a, b
		// and c until the merchant renames them. Anything else: "default".
		Branches: []Branch{quizBranch("a"), quizBranch("b"), quizBranch("c"),
			{Key: "default", When: "always", Steps: []Step{
				promo("results", "post_quiz/default/results", Hours(0)),
				offer("offer", "post_quiz/default/offer", DaysAt(3, "10:00")),
			}}},
	}, {
		Key: Checkout, Version: 1, Name: "Checkout abandonment", Triggers: []Trigger{CheckoutStarted}, Goal: GoalPurchase,
		Ladder: 3, Exits: []Exit{ExitEmptied}, Reentry: Reentry{CooldownDays: 1},
		Branches: []Branch{{Key: "main", When: "always", Steps: []Step{
			reminder("reminder-1", "checkout/1", Hours(1)),
			reminder("reminder-2", "checkout/2", Hours(23)),
			offer("reminder-3", "checkout/3", Hours(48)),
		}}},
	}, {
		Key: Cart, Version: 1, Name: "Cart abandonment", Triggers: []Trigger{CartUpdated}, Goal: GoalPurchase,
		Ladder: 2, Exits: []Exit{ExitLeave, ExitEmptied}, Reentry: Reentry{CooldownDays: 1},
		Branches: []Branch{{Key: "main", When: "always", Steps: []Step{
			reminder("reminder-1", "cart/1", Hours(1)),
			reminder("reminder-2", "cart/2", Hours(23)),
			offer("reminder-3", "cart/3", Hours(48)),
		}}},
	}, {
		Key: Browse, Version: 1, Name: "Browse abandonment", Triggers: []Trigger{ProductViewed}, Goal: GoalPurchase,
		Ladder: 1, Exits: []Exit{ExitLeave}, Reentry: Reentry{CooldownDays: 7},
		Branches: []Branch{{Key: "main", When: "always", Steps: []Step{
			promo("viewed", "browse/1", Hours(2)),
			promo("similar", "browse/2", Hours(24)),
		}}},
	}, {
		Key: PostPurchase, Version: 1, Name: "Post-purchase", Triggers: []Trigger{OrderPlaced}, Goal: GoalNone,
		Restart: true,
		Branches: []Branch{
			{Key: "first", When: "first_order", Steps: []Step{
				promo("thanks", "post_purchase/first/thanks", Hours(1)),
				promo("how-to", "post_purchase/first/how_to", DaysAt(3, "10:00")),
				review,
			}},
			{Key: "repeat", When: "repeat_order", Steps: []Step{
				promo("thanks", "post_purchase/repeat/thanks", Hours(1)),
				review,
			}},
		},
	}, {
		Key: Replenishment, Version: 1, Name: "Replenishment", Triggers: []Trigger{OrderPlaced}, Goal: GoalPurchase,
		Restart: true,
		Branches: []Branch{
			{Key: "subscribe", When: "repeat_product", Steps: []Step{
				promo("subscribe", "replenishment/subscribe", Delay{UsableLife: true, At: "10:00", Weekdays: weekdays}),
			}},
			{Key: "main", When: "always", Steps: []Step{
				promo("running-low", "replenishment/1", Delay{UsableLife: true, At: "10:00", Weekdays: weekdays}),
				promo("reminder", "replenishment/2", DaysAt(4, "10:00", weekdays...)),
			}},
		},
	}, {
		Key: Reengagement, Version: 1, Name: "Re-engagement", Triggers: []Trigger{Disengaged, Dormant}, Goal: GoalPurchase,
		Reentry: Reentry{CooldownDays: 90},
		Branches: []Branch{
			{Key: "sunset", When: "trigger:dormant", Sunset: true, Steps: []Step{
				offer("last-chance", "reengagement/sunset/1", DaysAt(0, "10:00", weekdays...)),
				promo("goodbye", "reengagement/sunset/2", DaysAt(7, "10:00", weekdays...)),
			}},
			{Key: "winback", When: "trigger:disengaged", Steps: []Step{
				promo("miss-you", "reengagement/winback/1", DaysAt(0, "10:00", weekdays...)),
				offer("offer", "reengagement/winback/2", DaysAt(5, "10:00", weekdays...)),
			}},
		},
	}}
}

// Default returns the default definition of a flow, or nil for an unknown key.
func Default(key Key) *Flow {
	for _, f := range Defaults() {
		if f.Key == key {
			return &f
		}
	}
	return nil
}
