package app

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/bot/teams"
	"github.com/jitbot/jitbot/flows"
)

// The admin API lets `jitbot grants` and `jitbot audit` work while the server
// runs (bbolt's lock keeps a second process out of the file). It is off
// unless admin_token is set, and every call must carry it as a bearer token.

// GrantView is a request as the admin API and CLI show it.
type GrantView struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	Kind      string    `json:"kind,omitempty"`
	Requester string    `json:"requester"`
	Resource  string    `json:"resource"`
	Role      string    `json:"role"`
	Flow      string    `json:"flow"`
	Username  string    `json:"username,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Approvers []string  `json:"approvers,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// ViewOf is r as the admin API shows it.
func ViewOf(r *flows.Request) GrantView {
	return GrantView{
		ID: string(r.ID), State: string(r.State), Kind: string(r.Kind), Requester: r.Requester, Resource: r.Resource.String(), Role: flows.FormatRoles(r.Roles), Flow: r.Flow,
		Username: r.Principal, CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt, Approvers: r.Approvers, LastError: r.LastError,
	}
}

// AuditLine is one exported audit record.
type AuditLine struct {
	Seq       uint64    `json:"seq"`
	At        time.Time `json:"at"`
	Type      string    `json:"type"`
	RequestID string    `json:"request_id,omitempty"`
	Actor     string    `json:"actor"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Message   string    `json:"message,omitempty"`
	Duration  string    `json:"duration,omitempty"`
	Username  string    `json:"username,omitempty"`
	PrevHash  string    `json:"prev_hash"`
	Hash      string    `json:"hash"`
}

// LineOf is r as the audit export writes it.
func LineOf(r flows.AuditRecord) AuditLine {
	l := AuditLine{Seq: r.Seq, At: r.Event.At, Type: string(r.Event.Type), RequestID: string(r.Event.RequestID), Actor: r.Event.Actor,
		From: string(r.Event.From), To: string(r.Event.To), Message: r.Event.Message, Username: r.Event.Principal,
		PrevHash: r.PrevHash, Hash: r.Hash}
	if r.Event.Duration > 0 {
		l.Duration = flows.FormatDuration(r.Event.Duration)
	}
	return l
}

// ParseStates reads a comma-separated list of states; "live" and "all" are
// shorthands.
func ParseStates(s string) ([]flows.State, error) {
	switch s {
	case "", "live":
		return []flows.State{flows.StatePending, flows.StateApproved, flows.StateProvisioning, flows.StateActive, flows.StateRevoking, flows.StateRevokeFailed}, nil
	case "all":
		return nil, nil
	}
	var out []flows.State
	for _, part := range strings.Split(s, ",") {
		st := flows.State(strings.TrimSpace(part))
		found := false
		for _, known := range flows.States() {
			found = found || known == st
		}
		if !found {
			return nil, fmt.Errorf("unknown state %q", part)
		}
		out = append(out, st)
	}
	return out, nil
}

// ParseSince reads an RFC 3339 time or a duration back from now (24h, 7d).
func ParseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := flows.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("-since %q: want an RFC 3339 time (2026-11-01T00:00:00Z) or a duration (24h, 7d)", s)
	}
	return now.Add(-d), nil
}

type adminAPI struct {
	token string
	svc   *flows.Service
	db    Backend
	clock flows.Clock
	log   *slog.Logger
	// forgetTeams forgets a Teams contact: the Teams bot's ForgetContact, which drops its
	// caches too, when Teams is configured; the store's contact alone otherwise.
	forgetTeams ForgetFunc
	// status is the server's status (GET /admin/status).
	status func(context.Context) Status
}

// ForgetFunc forgets the Teams contact of an email, recording evs in the audit log with it.
type ForgetFunc func(ctx context.Context, email string, evs ...flows.Event) error

// StoreForget forgets a Teams contact in the store alone, for when no Teams bot runs (no
// server, or Teams not configured): nothing in memory holds it.
func StoreForget(db Backend) ForgetFunc {
	return func(ctx context.Context, email string, evs ...flows.Event) error {
		return db.DeleteContact(ctx, teams.Platform, email, evs...)
	}
}

// ForgetTeamsContact has forget drop the Teams contact of email, recording in the audit log
// that admin did, through channel.
func ForgetTeamsContact(ctx context.Context, forget ForgetFunc, email, admin, channel string, now time.Time) error {
	err := forget(ctx, email, flows.Event{
		Type: flows.EventContactForgotten, Actor: admin, At: now,
		Message: "forgot the Teams contact of " + email + " and the Microsoft Entra account it was bound to; the next account to write to jitbot with this email binds it (via " + channel + ")",
	})
	if flows.ErrorCode(err) == flows.ENOTFOUND {
		return flows.Errorf(flows.ENOTFOUND, "jitbot has no Teams contact for %s: nothing to forget", email)
	}
	return err
}

func (a *adminAPI) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/status", a.auth(a.showStatus))
	mux.HandleFunc("GET /admin/grants", a.auth(a.listGrants))
	mux.HandleFunc("POST /admin/grants/{id}/revoke", a.auth(a.revokeGrant))
	mux.HandleFunc("GET /admin/audit", a.auth(a.exportAudit))
	mux.HandleFunc("GET /admin/audit/verify", a.auth(a.verifyAudit))
	mux.HandleFunc("POST /admin/contacts/teams/{email}/forget", a.auth(a.forgetContact))
	mux.HandleFunc("GET /admin/backup", a.auth(a.backup))
	mux.HandleFunc("GET /admin/report", a.auth(a.report))
	// The Go runtime's profiles, for an operator chasing CPU or memory
	// (go tool pprof reads what curl saves), behind the admin token.
	for path, h := range map[string]http.HandlerFunc{"/": pprof.Index, "/profile": pprof.Profile, "/trace": pprof.Trace} {
		mux.HandleFunc("GET /admin/debug/pprof"+path, a.auth(http.StripPrefix("/admin", h).ServeHTTP))
	}
}

func (a *adminAPI) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.token == "" {
			http.Error(w, "the admin API is off: set admin_token in the configuration", http.StatusNotFound)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
			a.log.Warn("admin API: bad token", "remote", r.RemoteAddr, "path", r.URL.Path)
			http.Error(w, "bad or missing admin token", http.StatusUnauthorized)
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"error"`
}

func writeErr(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch flows.ErrorCode(err) {
	case flows.EINVALID:
		status = http.StatusBadRequest
	case flows.EFORBIDDEN:
		status = http.StatusForbidden
	case flows.ENOTFOUND:
		status = http.StatusNotFound
	case flows.ECONFLICT:
		status = http.StatusConflict
	case flows.EUNAVAILABLE:
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, apiError{Code: string(flows.ErrorCode(err)), Message: flows.ErrorMessage(err)})
}

func (a *adminAPI) listGrants(w http.ResponseWriter, r *http.Request) {
	states, err := ParseStates(r.URL.Query().Get("state"))
	if err != nil {
		writeErr(w, flows.Errorf(flows.EINVALID, "%v", err))
		return
	}
	rs, err := a.svc.Requests(r.Context(), flows.Query{States: states})
	if err != nil {
		writeErr(w, err)
		return
	}
	views := make([]GrantView, len(rs))
	for i, req := range rs {
		views[i] = ViewOf(req)
	}
	writeJSON(w, http.StatusOK, views)
}

type revokeBody struct {
	As     string `json:"as"`
	Reason string `json:"reason"`
}

func (a *adminAPI) revokeGrant(w http.ResponseWriter, r *http.Request) {
	var body revokeBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		writeErr(w, flows.Errorf(flows.EINVALID, "bad request body: %v", err))
		return
	}
	if !a.svc.Policy().IsAdmin(body.As) {
		writeErr(w, flows.Errorf(flows.EFORBIDDEN, "%q is not an admin in the policy", body.As))
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 2*time.Minute)
	defer cancel()
	// The token is not a person: the audit says the admin named acted
	// through the API, and the log says from where.
	a.log.Warn("revoke through the admin API", "request_id", r.PathValue("id"), "as", body.As, "remote", r.RemoteAddr)
	req, err := a.svc.Revoke(ctx, flows.RequestID(r.PathValue("id")), body.As, ViaAdmin(body.Reason, "the admin API"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, ViewOf(req))
}

// forgetBody is what POST /admin/contacts/teams/{email}/forget takes.
type forgetBody struct {
	As string `json:"as"`
}

// forgetResult is what it answers.
type forgetResult struct {
	Platform  string `json:"platform"`
	Email     string `json:"email"`
	Forgotten bool   `json:"forgotten"`
}

// forgetContact forgets a person's Teams contact and the Entra account their email is bound
// to, so that the next account to write to jitbot with that email binds it.
func (a *adminAPI) forgetContact(w http.ResponseWriter, r *http.Request) {
	var body forgetBody
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&body); err != nil {
		writeErr(w, flows.Errorf(flows.EINVALID, "bad request body: %v", err))
		return
	}
	as, err := flows.NormalizeEmail(body.As)
	if err != nil || !a.svc.Policy().IsAdmin(as) {
		writeErr(w, flows.Errorf(flows.EFORBIDDEN, "%q is not an admin in the policy", body.As))
		return
	}
	email, err := flows.NormalizeEmail(r.PathValue("email"))
	if err != nil {
		writeErr(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	// The token is not a person: the audit says the admin named acted through the API, and
	// the log says from where.
	a.log.Warn("forget a Teams contact through the admin API", "email", email, "as", as, "remote", r.RemoteAddr)
	forget := a.forgetTeams
	if forget == nil {
		forget = StoreForget(a.db)
	}
	if err := ForgetTeamsContact(ctx, forget, email, as, "the admin API", a.clock.Now()); err != nil {
		if flows.ErrorCode(err) == flows.EINTERNAL {
			a.log.Error("forget a Teams contact", "email", email, "err", err)
		}
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, forgetResult{Platform: teams.Platform, Email: email, Forgotten: true})
}

func (a *adminAPI) exportAudit(w http.ResponseWriter, r *http.Request) {
	since, err := ParseSince(r.URL.Query().Get("since"), a.clock.Now())
	if err != nil {
		writeErr(w, flows.Errorf(flows.EINVALID, "%v", err))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	err = a.db.Audit(r.Context(), since, func(rec flows.AuditRecord) error { return enc.Encode(LineOf(rec)) })
	if err != nil {
		a.log.Error("audit export failed", "err", err)
	}
	_ = bw.Flush()
}

// VerifyResult is what GET /admin/audit/verify answers.
type VerifyResult struct {
	OK      bool   `json:"ok"`
	Records uint64 `json:"records"`
	Head    string `json:"head,omitempty"`
	Error   string `json:"error,omitempty"`
}

func verifyResultOf(sum flows.AuditSummary, err error) VerifyResult {
	if err != nil {
		return VerifyResult{Records: sum.Records, Error: err.Error()}
	}
	return VerifyResult{OK: true, Records: sum.Records, Head: sum.Head}
}

func (a *adminAPI) verifyAudit(w http.ResponseWriter, r *http.Request) {
	res := verifyResultOf(a.db.VerifyAudit(r.Context()))
	status := http.StatusOK
	if !res.OK {
		status = http.StatusConflict
	}
	writeJSON(w, status, res)
}

// GET /admin/backup streams a snapshot of the store; trailers after it say
// whether it is whole.
const (
	// BackupSizeTrailer is the snapshot's size in bytes, sent once it is
	// all written.
	BackupSizeTrailer = "X-Jitbot-Backup-Size"
	// BackupSHA256Trailer is the snapshot's SHA-256, in hex.
	BackupSHA256Trailer = "X-Jitbot-Backup-Sha256"
	// BackupErrorTrailer says why the snapshot stopped short (the status,
	// 200, was sent before).
	BackupErrorTrailer = "X-Jitbot-Backup-Error"
	// BackupTimeout bounds a backup's transfer: the snapshot is one read
	// transaction, which keeps the pages it reads from reuse until it ends.
	BackupTimeout = 30 * time.Minute
)

// backup streams a consistent snapshot of the store (Backend.Backup, one
// read transaction: the server serves on meanwhile), then its size and
// SHA-256 as trailers, so that the client can tell a whole snapshot from
// one cut short.
func (a *adminAPI) backup(w http.ResponseWriter, r *http.Request) {
	// Beyond the server's write timeout: a large store takes longer.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(BackupTimeout))
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="jitbot-`+a.clock.Now().UTC().Format("20060102T150405Z")+`.db"`)
	h.Set("Trailer", BackupSizeTrailer+", "+BackupSHA256Trailer+", "+BackupErrorTrailer)
	w.WriteHeader(http.StatusOK)
	a.log.Info("backup through the admin API", "remote", r.RemoteAddr)
	sum := sha256.New()
	n, err := a.db.Backup(io.MultiWriter(w, sum))
	if err != nil {
		a.log.Error("backup failed", "bytes", n, "remote", r.RemoteAddr, "err", err)
		h.Set(BackupErrorTrailer, strings.Join(strings.Fields(err.Error()), " "))
		return
	}
	h.Set(BackupSizeTrailer, strconv.FormatInt(n, 10))
	h.Set(BackupSHA256Trailer, hex.EncodeToString(sum.Sum(nil)))
	a.log.Info("backup sent", "bytes", n, "remote", r.RemoteAddr)
}

// ViaAdmin marks a revocation's reason with the channel it came through.
func ViaAdmin(reason, channel string) string {
	if reason = strings.TrimSpace(reason); reason == "" {
		return "via " + channel
	}
	return reason + " (via " + channel + ")"
}
