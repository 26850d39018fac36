package devstore

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"time"
)

type gqlRequest struct {
	Query     string         `json:"query"`
	Variables map[string]any `json:"variables"`
}

func (s *Server) graphql(w http.ResponseWriter, r *http.Request, shopDomain string) {
	now := s.o.Now()
	if !s.authenticate(r.Header.Get("X-Shopify-Access-Token"), shopDomain, now) {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"errors": invalidTokenError})
		return
	}
	var req gqlRequest
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Query == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"errors": map[string]any{"query": "Required parameter missing or invalid"}})
		return
	}
	op, alias, field, err := rootField(req.Query)
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]any{"errors": []any{gqlError(err.Error(), "parseError")}})
		return
	}
	s.mu.Lock()
	h, ok := s.handlers[field]
	s.mu.Unlock()
	if !ok {
		typeName := "QueryRoot"
		if op == "mutation" {
			typeName = "Mutation"
		}
		e := gqlError(fmt.Sprintf("Field '%s' doesn't exist on type '%s'", field, typeName), "undefinedField")
		e["path"] = []any{op, alias}
		writeJSON(w, http.StatusOK, map[string]any{"errors": []any{e}})
		return
	}

	cost := float64(h.cost)
	if cost > float64(s.o.Bucket) {
		writeJSON(w, http.StatusOK, map[string]any{
			"errors":     []any{gqlError(fmt.Sprintf("Query cost is %d, which exceeds the single query max cost limit (%d).", h.cost, s.o.Bucket), "MAX_COST_EXCEEDED")},
			"extensions": map[string]any{"cost": s.costJSON(shopDomain, cost, nil, now)},
		})
		return
	}
	if !s.charge(shopDomain, cost, now) {
		writeJSON(w, http.StatusOK, map[string]any{
			"errors":     []any{gqlError("Throttled", "THROTTLED")},
			"extensions": map[string]any{"cost": s.costJSON(shopDomain, cost, nil, now)},
		})
		return
	}

	vars := req.Variables
	if vars == nil {
		vars = map[string]any{}
	}
	value, herr := h.fn(shopDomain, vars)
	resp := map[string]any{
		"data":       map[string]any{alias: value},
		"extensions": map[string]any{"cost": s.costJSON(shopDomain, cost, &cost, now)},
	}
	if herr != nil {
		resp["data"] = map[string]any{alias: nil}
		e := map[string]any{"message": herr.Error(), "path": []any{alias}}
		resp["errors"] = []any{e}
	}
	writeJSON(w, http.StatusOK, resp)
}

func gqlError(msg, code string) map[string]any {
	return map[string]any{"message": msg, "extensions": map[string]any{"code": code}}
}

// authenticate accepts a live access token of this shop and marks it used,
// which retires the refresh token it replaced.
func (s *Server) authenticate(token, shopDomain string, now time.Time) bool {
	if token == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.access[token]
	// The map lookup is by exact token; compare again in constant time so
	// a stand-in used as a template does not teach a timing leak.
	if !ok || subtle.ConstantTimeCompare([]byte(g.access), []byte(token)) != 1 {
		return false
	}
	if g.shop != shopDomain || g.revoked || (!g.accessExp.IsZero() && !now.Before(g.accessExp)) {
		return false
	}
	g.accessUsed = true
	if sh := s.shops[shopDomain]; sh.current == g {
		sh.previous = nil
	}
	return true
}

// levelLocked brings the shop's bucket up to date with the restore rate.
func (s *Server) levelLocked(sh *shop, now time.Time) {
	if elapsed := now.Sub(sh.bucketAt).Seconds(); elapsed > 0 {
		sh.bucket = math.Min(float64(s.o.Bucket), sh.bucket+elapsed*float64(s.o.RestoreRate))
		sh.bucketAt = now
	}
}

func (s *Server) charge(shopDomain string, cost float64, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shops[shopDomain]
	s.levelLocked(sh, now)
	if sh.bucket < cost {
		return false
	}
	sh.bucket -= cost
	return true
}

func (s *Server) costJSON(shopDomain string, requested float64, actual *float64, now time.Time) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shops[shopDomain]
	s.levelLocked(sh, now)
	var act any
	if actual != nil {
		act = *actual
	}
	return map[string]any{
		"requestedQueryCost": requested,
		"actualQueryCost":    act,
		"throttleStatus": map[string]any{
			"maximumAvailable":   float64(s.o.Bucket),
			"currentlyAvailable": math.Floor(sh.bucket),
			"restoreRate":        float64(s.o.RestoreRate),
		},
	}
}

// shopField is the built-in "shop" root field.
func (s *Server) shopField(shopDomain string, _ map[string]any) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh, ok := s.shops[shopDomain]
	if !ok {
		return nil, errors.New("shop not found")
	}
	return map[string]any{
		"id":              fmt.Sprintf("gid://shopify/Shop/%d", sh.id),
		"name":            sh.name,
		"email":           sh.email,
		"myshopifyDomain": sh.domain,
		"ianaTimezone":    sh.tz,
		"currencyCode":    sh.currency,
	}, nil
}
