package resendtest

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// The Domains API as Resend documents it: POST /domains answers the new
// domain with status "not_started" and the DNS records to publish (SPF MX
// and TXT on "send", DKIM TXT on "resend._domainkey"); POST
// /domains/{id}/verify starts an asynchronous check (status "pending"); a
// later GET /domains/{id} shows the outcome: "verified" once the test has
// published the records (PublishDNS), else still "pending" (or "failed"
// after FailDomain). A domain name exists once per account: creating it again
// is a 403 validation error, as Resend answers.

type domain struct {
	ID        string
	Name      string
	Region    string
	Status    string
	CreatedAt time.Time
	published bool
	checking  bool // verify was called; the next GET settles it
	fail      bool
	verifies  int
}

// Domain is a snapshot of a domain the server holds.
type Domain struct {
	ID, Name, Region, Status string
	// VerifyCalls counts POST /domains/{id}/verify.
	VerifyCalls int
}

type domainRecord struct {
	Record   string `json:"record"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	TTL      string `json:"ttl"`
	Status   string `json:"status"`
	Value    string `json:"value"`
	Priority *int   `json:"priority,omitempty"`
}

// PublishDNS makes the DNS records of the domain named name "published":
// the next verification succeeds.
func (s *Server) PublishDNS(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.domainByName(name); d != nil {
		d.published = true
	}
}

// FailDomain makes the next verification of name fail (records not found).
func (s *Server) FailDomain(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.domainByName(name); d != nil {
		d.fail = true
	}
}

// Domains returns the domains the server holds.
func (s *Server) Domains() []Domain {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Domain, 0, len(s.domains))
	for _, d := range s.domains {
		out = append(out, Domain{ID: d.ID, Name: d.Name, Region: d.Region, Status: d.Status, VerifyCalls: d.verifies})
	}
	return out
}

func (s *Server) domainByName(name string) *domain {
	for _, d := range s.domains {
		if d.Name == name {
			return d
		}
	}
	return nil
}

func (s *Server) domainByID(id string) *domain {
	for _, d := range s.domains {
		if d.ID == id {
			return d
		}
	}
	return nil
}

var domainName = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)

func (s *Server) serveDomains(w http.ResponseWriter, r *http.Request) {
	rest := strings.Trim(strings.TrimPrefix(r.URL.Path, "/domains"), "/")
	parts := []string{}
	if rest != "" {
		parts = strings.Split(rest, "/")
	}
	switch {
	case len(parts) == 0 && r.Method == http.MethodPost:
		s.createDomain(w, r)
	case len(parts) == 0 && r.Method == http.MethodGet:
		s.mu.Lock()
		data := make([]map[string]any, 0, len(s.domains))
		for i := len(s.domains) - 1; i >= 0; i-- { // newest first
			j := s.domainJSON(s.domains[i])
			delete(j, "records")
			delete(j, "object")
			data = append(data, j)
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "has_more": false, "data": data})
	case len(parts) == 1 && r.Method == http.MethodGet:
		s.mu.Lock()
		d := s.domainByID(parts[0])
		var j map[string]any
		if d != nil {
			s.settle(d)
			j = s.domainJSON(d)
		}
		s.mu.Unlock()
		if d == nil {
			writeErr(w, http.StatusNotFound, "not_found", "Domain not found")
			return
		}
		writeJSON(w, http.StatusOK, j)
	case len(parts) == 1 && r.Method == http.MethodDelete:
		s.mu.Lock()
		found := false
		for i, d := range s.domains {
			if d.ID == parts[0] {
				s.domains = append(s.domains[:i], s.domains[i+1:]...)
				found = true
				break
			}
		}
		s.mu.Unlock()
		if !found {
			writeErr(w, http.StatusNotFound, "not_found", "Domain not found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "domain", "id": parts[0], "deleted": true})
	case len(parts) == 2 && parts[1] == "verify" && r.Method == http.MethodPost:
		s.mu.Lock()
		d := s.domainByID(parts[0])
		if d != nil {
			d.verifies++
			// Asynchronous: marked pending whatever its status, settled
			// by a later read.
			d.Status, d.checking = "pending", true
		}
		s.mu.Unlock()
		if d == nil {
			writeErr(w, http.StatusNotFound, "not_found", "Domain not found")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "domain", "id": d.ID})
	default:
		writeErr(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed")
	}
}

// settle finishes a verification started by POST verify. Caller holds s.mu.
func (s *Server) settle(d *domain) {
	if !d.checking {
		return
	}
	switch {
	case d.fail:
		d.Status, d.checking = "failed", false
	case d.published:
		d.Status, d.checking = "verified", false
	}
}

func (s *Server) createDomain(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeErr(w, http.StatusBadRequest, "invalid_request", "Unreadable body.")
		return
	}
	var req struct {
		Name   string `json:"name"`
		Region string `json:"region"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeErr(w, http.StatusUnprocessableEntity, "validation_error", "Invalid JSON body.")
		return
	}
	if req.Name == "" {
		writeErr(w, http.StatusUnprocessableEntity, "missing_required_field", "Missing `name` field.")
		return
	}
	if !domainName.MatchString(req.Name) || len(req.Name) > 253 {
		writeErr(w, http.StatusUnprocessableEntity, "validation_error", "Invalid `name` field. The domain name is not valid.")
		return
	}
	switch req.Region {
	case "":
		req.Region = "us-east-1"
	case "us-east-1", "eu-west-1", "sa-east-1", "ap-northeast-1":
	default:
		writeErr(w, http.StatusUnprocessableEntity, "validation_error", "Invalid `region` field.")
		return
	}
	s.mu.Lock()
	if s.domainByName(req.Name) != nil {
		s.mu.Unlock()
		writeErr(w, http.StatusForbidden, "validation_error", "The "+req.Name+" domain has been registered already.")
		return
	}
	d := &domain{ID: newID(), Name: req.Name, Region: req.Region, Status: "not_started", CreatedAt: time.Now().UTC()}
	s.domains = append(s.domains, d)
	j := s.domainJSON(d)
	s.mu.Unlock()
	delete(j, "object")
	writeJSON(w, http.StatusOK, j)
}

// domainJSON is a domain as GET /domains/{id} shows it. Caller holds s.mu.
func (s *Server) domainJSON(d *domain) map[string]any {
	ten := 10
	rs := "not_started"
	switch d.Status {
	case "pending", "verified", "failed", "temporary_failure":
		rs = d.Status
	}
	records := []domainRecord{
		{Record: "SPF", Name: "send", Type: "MX", TTL: "Auto", Status: rs, Value: "feedback-smtp." + d.Region + ".amazonses.com", Priority: &ten},
		{Record: "SPF", Name: "send", Type: "TXT", TTL: "Auto", Status: rs, Value: "v=spf1 include:amazonses.com ~all"},
		{Record: "DKIM", Name: "resend._domainkey", Type: "TXT", TTL: "Auto", Status: rs, Value: "p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQ" + d.ID[:8]},
	}
	return map[string]any{"object": "domain", "id": d.ID, "name": d.Name, "status": d.Status,
		"created_at": d.CreatedAt.Format("2006-01-02 15:04:05.000000+00"), "region": d.Region, "records": records}
}
