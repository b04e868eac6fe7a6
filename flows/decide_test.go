package flows_test

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestQuorumOfTwo(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("alice@example.com", "prod/Cluster0/sales/orders", "readWrite", time.Hour)
	if !slices.Equal(r.Approvers, []string{"dba1@example.com", "dba2@example.com", "owner@example.com"}) || r.Quorum != 2 {
		t.Fatalf("approvers %v quorum %d", r.Approvers, r.Quorum)
	}
	r, err := f.decide(r.ID, "owner@example.com", true, "")
	if err != nil || r.State != flows.StatePending {
		t.Fatalf("first approval: %v %v", r, err)
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); flows.ErrorCode(err) != flows.ECONFLICT || !strings.Contains(err.Error(), "1 more approval") {
		t.Fatalf("double approve: %v", err)
	}
	pending, _ := f.svc.Pending(f.ctx, "owner@example.com")
	if len(pending) != 0 {
		t.Fatal("a request the person approved is not waiting for them")
	}
	pending, _ = f.svc.Pending(f.ctx, "dba2@example.com")
	if len(pending) != 1 {
		t.Fatal("the request waits for dba2")
	}
	r, err = f.decide(r.ID, "dba2@example.com", true, "")
	if err != nil || r.State != flows.StateActive {
		t.Fatalf("second approval: %v %v", r, err)
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApprovalRecorded, flows.EventApproved, flows.EventProvisioning, flows.EventActivated)
}

func TestClicksAreReauthorized(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	before := len(f.store.Events())
	// The requester and an admin take part in the request but may not
	// decide it; the others take no part and do not learn it exists.
	for who, want := range map[string]flows.Code{
		"carol@example.com": flows.EFORBIDDEN, "admin@example.com": flows.EFORBIDDEN,
		"mallory@example.com": flows.ENOTFOUND, "dba1@example.com": flows.ENOTFOUND,
	} {
		for _, approve := range []bool{true, false} {
			if _, err := f.decide(r.ID, who, approve, "no"); flows.ErrorCode(err) != want {
				t.Fatalf("%s approve=%v: %v, want %s", who, approve, err, want)
			}
		}
	}
	if _, err := f.decide("nosuchid", "owner@example.com", true, ""); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("unknown request: %v", err)
	}
	if len(f.store.Events()) != before || f.get(r.ID).State != flows.StatePending {
		t.Fatal("refused clicks changed something")
	}
	if _, err := f.svc.Get(f.ctx, r.ID, "mallory@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("outsiders cannot see requests: %v", err)
	}
}

func TestConcurrentApproveClicksCreateOneUser(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok, conflicts := 0, 0
	for range 10 {
		wg.Go(func() {
			_, err := f.decide(r.ID, "owner@example.com", true, "")
			mu.Lock()
			defer mu.Unlock()
			switch flows.ErrorCode(err) {
			case "":
				ok++
			case flows.ECONFLICT:
				conflicts++
			default:
				t.Errorf("unexpected: %v", err)
			}
		})
	}
	wg.Wait()
	if ok != 1 || conflicts != 9 {
		t.Fatalf("ok=%d conflicts=%d", ok, conflicts)
	}
	if f.prov.Count("create") != 1 {
		t.Fatalf("creates: %d", f.prov.Count("create"))
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproved, flows.EventProvisioning, flows.EventActivated)
}

func TestDenyWithReason(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	if _, err := f.decide(r.ID, "owner@example.com", false, ""); flows.ErrorCode(err) != flows.EINVALID {
		t.Fatalf("the flow requires a reason to deny: %v", err)
	}
	r, err := f.decide(r.ID, "owner@example.com", false, "use the replica in staging")
	if err != nil || r.State != flows.StateDenied || r.Denial.Reason != "use the replica in staging" {
		t.Fatalf("deny: %+v %v", r, err)
	}
	n := f.notes.Of(flows.EventDenied)
	if len(n) != 1 || n[0].To[0] != "carol@example.com" || n[0].Event.Message != "use the replica in staging" {
		t.Fatalf("denial notice: %+v", n)
	}
	if f.prov.Count("create") != 0 {
		t.Fatal("a denied request is never provisioned")
	}
}

// TestApprovalsFollowThePolicyInForce: a reload that takes an approver out
// of a flow stops their clicks on requests routed before it, approvals and
// denials alike, while those the new policy still names decide as before;
// a flow taken out of the policy leaves its pending requests undecidable.
func TestApprovalsFollowThePolicyInForce(t *testing.T) {
	f := newFixture(t)
	r := f.mustSubmit("alice@example.com", "prod/Cluster0/sales/orders", "readWrite", time.Hour)
	if r.PolicyHash == "" || r.PolicyHash != f.svc.Policy().Hash() {
		t.Fatalf("the request records policy %q; in force: %q", r.PolicyHash, f.svc.Policy().Hash())
	}
	if got := f.get(r.ID).PolicyHash; got != r.PolicyHash {
		t.Fatalf("the store kept policy hash %q", got)
	}
	// dba2 leaves the dba group: prod-write's approvers are the owners and group:dba.
	spec := testPolicy()
	spec.Groups["dba"] = []string{"dba1@example.com"}
	reloaded := mustCompile(t, spec)
	if reloaded.Hash() == r.PolicyHash {
		t.Fatal("a changed policy kept its hash")
	}
	if err := f.svc.SetPolicy(reloaded); err != nil {
		t.Fatal(err)
	}
	before := len(f.store.Events())
	for _, approve := range []bool{true, false} {
		_, err := f.decide(r.ID, "dba2@example.com", approve, "no")
		if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "no longer an approver") {
			t.Fatalf("approve=%v by a removed approver: %v", approve, err)
		}
	}
	if len(f.store.Events()) != before {
		t.Fatal("a refused click changed something")
	}
	// Strangers are still answered as for an unknown id.
	if _, err := f.decide(r.ID, "mallory@example.com", true, ""); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("a stranger: %v", err)
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); err != nil {
		t.Fatalf("the cluster's owner, still an approver: %v", err)
	}
	if r, err := f.decide(r.ID, "dba1@example.com", true, ""); err != nil || r.State != flows.StateActive {
		t.Fatalf("dba1, still an approver: %v %v", r, err)
	}

	// A flow taken out of the policy: its pending request can no longer be decided.
	r = f.mustSubmit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour)
	spec.Flows = slices.DeleteFunc(spec.Flows, func(fs flows.FlowSpec) bool { return fs.Name == "prod-read" })
	if err := f.svc.SetPolicy(mustCompile(t, spec)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.decide(r.ID, "owner@example.com", true, ""); flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "access flow prod-read") {
		t.Fatalf("a request of a removed flow: %v", err)
	}
	if err := f.svc.SetPolicy(nil); err == nil {
		t.Fatal("SetPolicy(nil) was accepted")
	}
}

// TestPolicyHash: the same spec always hashes alike, any change does not.
func TestPolicyHash(t *testing.T) {
	a, b := mustCompile(t, testPolicy()), mustCompile(t, testPolicy())
	if a.Hash() != b.Hash() || len(a.Hash()) != 16 {
		t.Fatalf("hashes %q and %q", a.Hash(), b.Hash())
	}
	spec := testPolicy()
	spec.Flows[0].MaxDuration = "7h"
	if mustCompile(t, spec).Hash() == a.Hash() {
		t.Fatal("a changed max_duration kept the hash")
	}
}
