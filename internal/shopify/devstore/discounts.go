package devstore

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The discount part of the Admin API, built in: discountCodeBasicCreate,
// discountCodeFreeShippingCreate, codeDiscountNodeByCode and
// discountCodeDelete. It behaves like Shopify where the app can tell:
// required fields, value ranges, unknown customers and duplicate codes come
// back as userErrors (TAKEN for a code in use, case-insensitively), lookups
// are case-insensitive, deleting an unknown id is a userError.
//
// Customers: a shop that declared customers with AddCustomer refuses a
// discount for any other customer, as Shopify does. A shop that declared
// none accepts any well-formed customer gid, so `relance dev` can make codes
// for the shoppers of simulated webhooks, which the stand-in never saw.

// DiscountCode is one code discount the stand-in holds.
type DiscountCode struct {
	ID       string // gid://shopify/DiscountCodeNode/N
	Code     string // as created
	Title    string
	Mutation string         // the create mutation, e.g. "discountCodeBasicCreate"; "" for AddDiscountCode
	Input    map[string]any // the mutation's input variable as received; nil for AddDiscountCode
	seq      int
}

type discountStore struct {
	mu        sync.Mutex
	nextID    int
	codes     map[string]map[string]*DiscountCode // shop -> UPPER(code) -> code
	customers map[string]map[string]bool          // shop -> customer gid
}

func newDiscountStore() *discountStore {
	return &discountStore{codes: map[string]map[string]*DiscountCode{}, customers: map[string]map[string]bool{}}
}

// registerDiscounts installs the discount root fields (called by New).
func (s *Server) registerDiscounts() {
	d := newDiscountStore()
	s.discounts = d
	s.HandleGraphQL("discountCodeBasicCreate", 10, func(shop string, vars map[string]any) (any, error) {
		return d.create(shop, "basicCodeDiscount", "discountCodeBasicCreate", vars)
	})
	s.HandleGraphQL("discountCodeFreeShippingCreate", 10, func(shop string, vars map[string]any) (any, error) {
		return d.create(shop, "freeShippingCodeDiscount", "discountCodeFreeShippingCreate", vars)
	})
	s.HandleGraphQL("codeDiscountNodeByCode", 1, d.lookup)
	s.HandleGraphQL("discountCodeDelete", 10, d.delete)
}

// AddCustomer declares a customer (a gid such as
// "gid://shopify/Customer/42") of shop. From then on the shop refuses
// discounts for customers it was not told about.
func (s *Server) AddCustomer(shop, customerGID string) {
	d := s.discounts
	shop = strings.ToLower(shop)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.customers[shop] == nil {
		d.customers[shop] = map[string]bool{}
	}
	d.customers[shop][customerGID] = true
}

// DiscountCodes returns the code discounts of shop, oldest first.
func (s *Server) DiscountCodes(shop string) []DiscountCode {
	d := s.discounts
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []DiscountCode
	for _, c := range d.codes[strings.ToLower(shop)] {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// DiscountCode returns shop's discount with this code (case-insensitive).
func (s *Server) DiscountCode(shop, code string) (DiscountCode, bool) {
	d := s.discounts
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.codes[strings.ToLower(shop)][strings.ToUpper(code)]
	if c == nil {
		return DiscountCode{}, false
	}
	return *c, true
}

// AddDiscountCode stores a basic code discount as if the merchant had
// created it in the admin, replacing any with the same code.
func (s *Server) AddDiscountCode(shop, code, title string) DiscountCode {
	d := s.discounts
	d.mu.Lock()
	defer d.mu.Unlock()
	return *d.putLocked(strings.ToLower(shop), &DiscountCode{Code: code, Title: title})
}

// DeleteDiscountCode removes shop's discount with this code, as a merchant
// deleting it by hand; it reports whether there was one.
func (s *Server) DeleteDiscountCode(shop, code string) bool {
	d := s.discounts
	d.mu.Lock()
	defer d.mu.Unlock()
	m := d.codes[strings.ToLower(shop)]
	if _, ok := m[strings.ToUpper(code)]; !ok {
		return false
	}
	delete(m, strings.ToUpper(code))
	return true
}

func (d *discountStore) putLocked(shop string, c *DiscountCode) *DiscountCode {
	d.nextID++
	c.seq = d.nextID
	c.ID = fmt.Sprintf("gid://shopify/DiscountCodeNode/%d", 1000+d.nextID)
	if d.codes[shop] == nil {
		d.codes[shop] = map[string]*DiscountCode{}
	}
	d.codes[shop][strings.ToUpper(c.Code)] = c
	return c
}

var (
	customerGID = regexp.MustCompile(`^gid://shopify/Customer/[1-9][0-9]*$`)
	decimal     = regexp.MustCompile(`^[0-9]+(\.[0-9]{1,4})?$`)
)

func userErr(field []string, code, msg string) map[string]any {
	return map[string]any{"field": field, "code": code, "message": msg}
}

// positive reports whether v is a decimal string greater than zero.
func positive(v any) bool {
	s, ok := v.(string)
	if !ok || !decimal.MatchString(s) {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	return err == nil && f > 0
}

func (d *discountStore) create(shop, arg, mutation string, vars map[string]any) (any, error) {
	in, ok := vars[arg].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("variable $%s of %s was provided invalid value", arg, mutation)
	}
	var errs []any
	bad := func(code, msg string, path ...string) {
		errs = append(errs, userErr(append([]string{arg}, path...), code, msg))
	}
	for _, k := range []string{"title", "code", "startsAt"} {
		if s, _ := in[k].(string); strings.TrimSpace(s) == "" {
			bad("BLANK", k+" can't be blank", k)
		}
	}
	code, _ := in["code"].(string)
	starts, err1 := time.Parse(time.RFC3339, fmt.Sprint(in["startsAt"]))
	if err1 != nil {
		bad("INVALID", "startsAt is invalid", "startsAt")
	}
	if e, ok := in["endsAt"].(string); ok {
		ends, err := time.Parse(time.RFC3339, e)
		if err != nil {
			bad("INVALID", "endsAt is invalid", "endsAt")
		} else if err1 == nil && !ends.After(starts) {
			bad("END_DATE_BEFORE_START_DATE", "End date should be after start date", "endsAt")
		}
	}
	if _, dep := in["customerSelection"]; dep {
		bad("INVALID", "customerSelection is deprecated, use context", "customerSelection")
	}
	ctxIn, _ := in["context"].(map[string]any)
	switch {
	case ctxIn == nil:
		bad("BLANK", "context can't be blank", "context")
	case ctxIn["all"] != nil && ctxIn["customers"] != nil:
		bad("TOO_MANY_ARGUMENTS", "Only one of all, customers or customerSegments", "context")
	case ctxIn["all"] != nil:
		if ctxIn["all"] != "ALL" {
			bad("INVALID", "Expected DiscountBuyerSelection", "context", "all")
		}
	default:
		cs, _ := ctxIn["customers"].(map[string]any)
		add, _ := cs["add"].([]any)
		if len(add) == 0 {
			bad("BLANK", "customers can't be blank", "context", "customers", "add")
		}
		d.mu.Lock()
		known := d.customers[shop]
		for _, g := range add {
			gid := fmt.Sprint(g)
			if !customerGID.MatchString(gid) || (known != nil && !known[gid]) {
				bad("INVALID", fmt.Sprintf("Customer %v does not exist", g), "context", "customers", "add")
			}
		}
		d.mu.Unlock()
	}
	if ul, ok := in["usageLimit"].(float64); ok && ul < 1 {
		bad("GREATER_THAN_OR_EQUAL_TO", "usageLimit must be at least 1", "usageLimit")
	}
	if mr, ok := in["minimumRequirement"].(map[string]any); ok {
		sub, _ := mr["subtotal"].(map[string]any)
		if v, _ := sub["greaterThanOrEqualToSubtotal"].(string); !decimal.MatchString(v) {
			bad("INVALID", "subtotal is invalid", "minimumRequirement", "subtotal", "greaterThanOrEqualToSubtotal")
		}
	}
	if mutation == "discountCodeBasicCreate" {
		gets, _ := in["customerGets"].(map[string]any)
		val, _ := gets["value"].(map[string]any)
		switch {
		case val["percentage"] != nil:
			p, _ := val["percentage"].(float64)
			if p <= 0 || p > 1 {
				bad("VALUE_OUTSIDE_RANGE", "Value must be between 0.00 - 1.00", "customerGets", "value", "percentage")
			}
		case val["discountAmount"] != nil:
			da, _ := val["discountAmount"].(map[string]any)
			if !positive(da["amount"]) {
				bad("GREATER_THAN", "amount must be greater than 0", "customerGets", "value", "discountAmount", "amount")
			}
		default:
			bad("BLANK", "value can't be blank", "customerGets", "value")
		}
		if items, _ := gets["items"].(map[string]any); items["all"] != true {
			bad("BLANK", "items can't be blank", "customerGets", "items")
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(errs) == 0 {
		if _, taken := d.codes[shop][strings.ToUpper(code)]; taken {
			bad("TAKEN", "Code must be unique. Please try a different code.", "code")
		}
	}
	if len(errs) > 0 {
		return map[string]any{"codeDiscountNode": nil, "userErrors": errs}, nil
	}
	c := d.putLocked(shop, &DiscountCode{Code: code, Title: fmt.Sprint(in["title"]), Mutation: mutation, Input: in})
	return map[string]any{"codeDiscountNode": map[string]any{"id": c.ID}, "userErrors": []any{}}, nil
}

func (d *discountStore) lookup(shop string, vars map[string]any) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.codes[shop][strings.ToUpper(fmt.Sprint(vars["code"]))]
	if c == nil {
		return nil, nil
	}
	typ := "DiscountCodeBasic"
	if c.Mutation == "discountCodeFreeShippingCreate" {
		typ = "DiscountCodeFreeShipping"
	}
	return map[string]any{"id": c.ID, "codeDiscount": map[string]any{"__typename": typ, "title": c.Title}}, nil
}

func (d *discountStore) delete(shop string, vars map[string]any) (any, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := fmt.Sprint(vars["id"])
	for k, c := range d.codes[shop] {
		if c.ID == id {
			delete(d.codes[shop], k)
			return map[string]any{"deletedCodeDiscountId": id, "userErrors": []any{}}, nil
		}
	}
	return map[string]any{"deletedCodeDiscountId": nil,
		"userErrors": []any{userErr([]string{"id"}, "INVALID", "Discount does not exist")}}, nil
}
